package zipx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// FileSHA256 returns the hex SHA-256 of the whole archive file, as reports
// and `inspect` name inputs and outputs.
func (z *Reader) FileSHA256() (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(z.ra, 0, z.size)); err != nil {
		return "", fmt.Errorf("zip: hashing the archive: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
