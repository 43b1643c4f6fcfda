package apksig

import (
	"crypto"
	_ "crypto/sha256" // registers crypto.SHA256
	_ "crypto/sha512" // registers crypto.SHA512
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// IDs of the APK Signing Block pairs and signed-data attributes used here.
const (
	blockIDV2      = 0x7109871a
	blockIDV3      = 0xf05368c0
	blockIDV31     = 0x1b93ad61
	blockIDPadding = 0x42726577 // verity padding: keeps the block a multiple of 4096 bytes

	attrStrippingProtection = 0xbeeff00d // v2 signed data: "a v3 signature exists too"
	attrProofOfRotation     = 0x3ba06f8c // v3 signed data: signing certificate lineage
)

// Signature algorithm IDs (APK Signature Scheme v2 spec).
const (
	algRSAPSSSHA256     = 0x0101
	algRSAPSSSHA512     = 0x0102
	algRSAPKCS1SHA256   = 0x0103
	algRSAPKCS1SHA512   = 0x0104
	algECDSASHA256      = 0x0201
	algECDSASHA512      = 0x0202
	algVerityRSAPKCS1   = 0x0421
	algVerityECDSA      = 0x0423
	chunkSize           = 1 << 20
	blockAlign          = 4096
	maxSigningBlockSize = 64 << 20
)

// ErrMalformed reports an APK Signing Block or scheme block that cannot be
// parsed. It is a container problem: Verify returns it as an error only when
// the block itself cannot be found; problems inside a scheme become Issues.
var ErrMalformed = errors.New("apksig: malformed signature block")

// FORMAT: APK Signing Block pairs, each:
//
//	uint64 length (of ID + value)
//	uint32 ID
//	value
type pair struct {
	id    uint32
	value []byte
}

// readSigningBlock returns the ID-value pairs of z's APK Signing Block, or
// nil if it has none.
func readSigningBlock(z *zipx.Reader) ([]pair, error) {
	span, ok := z.SigningBlock()
	if !ok {
		return nil, nil
	}
	if span.Size > maxSigningBlockSize {
		return nil, fmt.Errorf("%w: APK Signing Block of %d bytes", ErrMalformed, span.Size)
	}
	b := make([]byte, span.Size)
	if _, err := z.ReaderAt().ReadAt(b, span.Offset); err != nil {
		return nil, fmt.Errorf("apksig: reading APK Signing Block: %w", err)
	}
	b = b[8 : len(b)-24] // size, pairs, size, magic
	var pairs []pair
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, fmt.Errorf("%w: truncated pair", ErrMalformed)
		}
		n := binary.LittleEndian.Uint64(b)
		if n < 4 || n > uint64(len(b)-8) {
			return nil, fmt.Errorf("%w: pair length %d", ErrMalformed, n)
		}
		pairs = append(pairs, pair{id: binary.LittleEndian.Uint32(b[8:]), value: b[12 : 8+n]})
		b = b[8+n:]
	}
	return pairs, nil
}

func findPair(pairs []pair, id uint32) []byte {
	for _, p := range pairs {
		if p.id == id {
			return p.value
		}
	}
	return nil
}

// buildSigningBlock assembles pairs into an APK Signing Block padded to a
// multiple of 4096 bytes, as apksig does.
func buildSigningBlock(pairs []pair) []byte {
	size := 8 + 8 + 16 // both size fields, magic
	for _, p := range pairs {
		size += 12 + len(p.value)
	}
	if rem := size % blockAlign; rem != 0 {
		pad := blockAlign - rem
		if pad < 12 {
			pad += blockAlign
		}
		pairs = append(pairs, pair{id: blockIDPadding, value: make([]byte, pad-12)})
		size += pad
	}
	b := make([]byte, 0, size)
	b = binary.LittleEndian.AppendUint64(b, uint64(size-8))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint64(b, uint64(4+len(p.value)))
		b = binary.LittleEndian.AppendUint32(b, p.id)
		b = append(b, p.value...)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(size-8))
	return append(b, "APK Sig Block 42"...)
}

// contentDigest computes the chunked digest (SHA-256 or SHA-512) shared by v2 and v3 over
// the three sections of the archive the signature protects: the entries
// [0, entriesEnd), the central directory, and the end record whose central
// directory offset field reads entriesEnd (where the central directory would
// start without the signing block).
//
// FORMAT: each section is split in 1 MiB chunks; chunk digest =
// H(0xa5 || uint32 chunk length || chunk); top digest =
// H(0x5a || uint32 chunk count || chunk digests...).
//
// Chunks are hashed in parallel, each worker reading through its own 1 MiB
// buffer, so memory use does not depend on the archive size.
func contentDigest(ra io.ReaderAt, entriesEnd int64, cd []byte, eocd []byte, hf crypto.Hash) ([]byte, error) {
	eocd = append([]byte(nil), eocd...)
	binary.LittleEndian.PutUint32(eocd[16:], uint32(entriesEnd))

	type chunk struct {
		off, n int64
		mem    []byte // set for in-memory sections
	}
	var chunks []chunk
	for off := int64(0); off < entriesEnd; off += chunkSize {
		chunks = append(chunks, chunk{off: off, n: min(chunkSize, entriesEnd-off)})
	}
	for _, mem := range [][]byte{cd, eocd} {
		for off := 0; off < len(mem); off += chunkSize {
			end := min(off+chunkSize, len(mem))
			chunks = append(chunks, chunk{mem: mem[off:end], n: int64(end - off)})
		}
	}

	size := hf.Size()
	digests := make([]byte, 5+len(chunks)*size)
	digests[0] = 0x5a
	binary.LittleEndian.PutUint32(digests[1:], uint32(len(chunks)))

	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	next := make(chan int)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 5+chunkSize)
			buf[0] = 0xa5
			h := hf.New()
			for i := range next {
				c := chunks[i]
				data := c.mem
				if data == nil {
					if _, err := ra.ReadAt(buf[5:5+c.n], c.off); err != nil {
						errs[w] = fmt.Errorf("apksig: reading chunk at %d: %w", c.off, err)
						continue
					}
					data = buf[5 : 5+c.n]
				}
				binary.LittleEndian.PutUint32(buf[1:], uint32(c.n))
				h.Reset()
				h.Write(buf[:5])
				h.Write(data)
				h.Sum(digests[5+i*size : 5+i*size])
			}
		}()
	}
	for i := range chunks {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	top := hf.New()
	top.Write(digests)
	return top.Sum(nil), nil
}

// archiveSections reads the central directory and end record of z.
func archiveSections(z *zipx.Reader) (cd, eocd []byte, err error) {
	cdSpan, eocdSpan := z.CentralDirectory(), z.EOCD()
	cd = make([]byte, cdSpan.Size)
	eocd = make([]byte, eocdSpan.Size)
	if _, err := z.ReaderAt().ReadAt(cd, cdSpan.Offset); err != nil {
		return nil, nil, fmt.Errorf("apksig: reading central directory: %w", err)
	}
	if _, err := z.ReaderAt().ReadAt(eocd, eocdSpan.Offset); err != nil {
		return nil, nil, fmt.Errorf("apksig: reading end of central directory: %w", err)
	}
	return cd, eocd, nil
}
