package zipx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// FileSHA256 returns the hex SHA-256 of the whole archive file, as reports
// and `inspect` name inputs and outputs. It is computed once (the archive
// is read-only); concurrent calls wait for the first, so a caller can start
// it in the background while doing other work on the archive.
func (z *Reader) FileSHA256() (string, error) {
	z.sumOnce.Do(func() {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(z.ra, 0, z.size)); err != nil {
			z.sumErr = fmt.Errorf("zip: hashing the archive: %w", err)
			return
		}
		z.sum = hex.EncodeToString(h.Sum(nil))
	})
	return z.sum, z.sumErr
}
