package ipa

import (
	"bytes"
	"errors"
	"testing"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// FuzzFromZip: any archive either opens or fails with an error (an
// *ipa.FormatError when the archive itself reads); what opens verifies
// without panicking.
func FuzzFromZip(f *testing.F) {
	f.Add(readFixture(f, "Demo.ipa"))
	signed, _ := signFile(f, testenv.IOSFixture(f, "Demo.ipa"), SignOptions{AdHoc: true, Time: fixedTime})
	f.Add(mustRead(f, signed))
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := zipx.NewReaderZip64(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		a, err := FromZip(z)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, zipx.ErrChecksum) && !errors.Is(err, zipx.ErrSizeMismatch) {
				t.Logf("not a FormatError: %v", err)
			}
			return
		}
		defer a.Close()
		Verify(a, VerifyOptions{Now: fixedTime})
	})
}
