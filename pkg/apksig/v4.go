package apksig

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// V4 is APK Signature Scheme v4 (Android 11, API 30): a signature kept
// outside the APK, in <apk>.idsig, for incremental installs (adb install
// --incremental). It signs the APK's v2/v3 content digest and the root of
// a Merkle tree over the whole file, so it applies to exactly one APK file:
// any re-signed or re-written APK needs a new one.
const V4 Scheme = "v4"

// IdsigSuffix is appended to an APK's path to name its v4 signature file.
const IdsigSuffix = ".idsig"

// FORMAT: APK Signature Scheme v4 file (.idsig), as apksig's V4Signature
// writes it (version 2). Integers are little-endian; "lp" bytes are
// prefixed with their int32 length.
//
//	int32 version                  2
//	lp hashing info:
//	  int32 hash algorithm         1 = SHA-256
//	  int8  log2 of block size     12 = 4096 bytes
//	  lp salt                      empty
//	  lp raw root hash             root of the Merkle tree over the APK file
//	lp signing info:
//	  lp apk digest                the APK's v3 (else v2) content digest
//	  lp certificate               X.509 DER of the signer (the v3 signer)
//	  lp additional data           empty
//	  lp public key                SubjectPublicKeyInfo DER
//	  int32 signature algorithm    v2/v3 algorithm IDs
//	  lp signature                 over the signed data below
//	  (newer writers may append further signing-info blocks: ignored)
//	lp Merkle tree                 levels from the root's down to the data's
//
// Signed data: int32 total size, int64 APK file size, int32 hash
// algorithm, int8 log2 block size, lp salt, lp root hash, lp apk digest,
// lp certificate, lp additional data.
//
// Merkle tree (fs-verity layout, no salt): the APK file is cut into 4096-byte
// blocks (the last zero-padded); level 0 is the SHA-256 of each block, padded
// with zeros to a multiple of 4096 bytes; each next level hashes the blocks
// of the one below, until a level fits in one block; the root hash is the
// SHA-256 of that block. The file stores the top level first.
const (
	v4Version       = 2
	v4HashSHA256    = 1
	v4Log2BlockSize = 12
	v4BlockSize     = 1 << v4Log2BlockSize
	// maxIdsigSize caps a v4 signature file read from disk: its tree is
	// 1/128 of the APK, so 64 MiB covers an 8 GiB APK.
	maxIdsigSize = 64 << 20
)

// ErrV4Malformed reports a .idsig file that cannot be parsed.
var ErrV4Malformed = errors.New("apksig: malformed APK Signature Scheme v4 file")

// ErrV4Mismatch reports a well-formed .idsig file that does not sign the
// APK it is checked against (another build, or the APK changed since).
var ErrV4Mismatch = errors.New("apksig: the APK Signature Scheme v4 file does not match the APK")

// V4Signature is a parsed .idsig file.
type V4Signature struct {
	Version            uint32
	HashAlgorithm      uint32
	Log2BlockSize      uint8
	Salt, RootHash     []byte
	APKDigest          []byte
	Certificate        []byte // X.509 DER
	AdditionalData     []byte
	PublicKey          []byte // SubjectPublicKeyInfo DER
	SignatureAlgorithm uint32
	Signature          []byte
	Tree               []byte
}

// ReadV4 reads and parses a .idsig file from r (at most 64 MiB).
func ReadV4(r io.Reader) (*V4Signature, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxIdsigSize+1))
	if err != nil {
		return nil, fmt.Errorf("apksig: reading v4 signature: %w", err)
	}
	if len(data) > maxIdsigSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrV4Malformed, maxIdsigSize)
	}
	return ParseV4(data)
}

// ParseV4 parses the bytes of a .idsig file. Like apksig's verifier, it
// needs only the version, hashing info and signing info: the Merkle tree
// after them is kept in Tree when it is whole, and otherwise left nil
// (Check recomputes the root hash from the APK and never reads the tree).
func ParseV4(data []byte) (*V4Signature, error) {
	r := &lpReader{b: data}
	v := &V4Signature{Version: r.u32()}
	hashing := &lpReader{b: r.next()}
	signing := &lpReader{b: r.next()}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrV4Malformed, r.err)
	}
	if tree := r.next(); r.err == nil && len(r.b) == 0 {
		v.Tree = tree
	}
	if v.Version != v4Version {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrV4Malformed, v.Version, v4Version)
	}
	v.HashAlgorithm = hashing.u32()
	if len(hashing.b) < 1 {
		return nil, fmt.Errorf("%w: truncated hashing info", ErrV4Malformed)
	}
	v.Log2BlockSize, hashing.b = hashing.b[0], hashing.b[1:]
	v.Salt, v.RootHash = hashing.next(), hashing.next()
	v.APKDigest, v.Certificate, v.AdditionalData, v.PublicKey = signing.next(), signing.next(), signing.next(), signing.next()
	v.SignatureAlgorithm = signing.u32()
	v.Signature = signing.next()
	switch {
	case hashing.err != nil:
		return nil, fmt.Errorf("%w: hashing info: %v", ErrV4Malformed, hashing.err)
	case len(hashing.b) != 0:
		return nil, fmt.Errorf("%w: %d bytes after the hashing info", ErrV4Malformed, len(hashing.b))
	case signing.err != nil:
		return nil, fmt.Errorf("%w: signing info: %v", ErrV4Malformed, signing.err)
	case v.HashAlgorithm != v4HashSHA256 || v.Log2BlockSize != v4Log2BlockSize:
		return nil, fmt.Errorf("%w: hash algorithm %d with blocks of 2^%d bytes (want SHA-256, 4096)", ErrV4Malformed, v.HashAlgorithm, v.Log2BlockSize)
	}
	return v, nil
}

// MarshalBinary encodes the file.
func (v *V4Signature) MarshalBinary() ([]byte, error) {
	var hashing, signing []byte
	hashing = binary.LittleEndian.AppendUint32(hashing, v.HashAlgorithm)
	hashing = append(hashing, v.Log2BlockSize)
	hashing = lp(lp(hashing, v.Salt), v.RootHash)
	for _, b := range [][]byte{v.APKDigest, v.Certificate, v.AdditionalData, v.PublicKey} {
		signing = lp(signing, b)
	}
	signing = binary.LittleEndian.AppendUint32(signing, v.SignatureAlgorithm)
	signing = lp(signing, v.Signature)
	out := binary.LittleEndian.AppendUint32(nil, v.Version)
	return lp(lp(lp(out, hashing), signing), v.Tree), nil
}

// signedData is what the signature covers, for an APK of apkSize bytes.
func (v *V4Signature) signedData(apkSize int64) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(apkSize))
	b = binary.LittleEndian.AppendUint32(b, v.HashAlgorithm)
	b = append(b, v.Log2BlockSize)
	for _, f := range [][]byte{v.Salt, v.RootHash, v.APKDigest, v.Certificate, v.AdditionalData} {
		b = lp(b, f)
	}
	return append(binary.LittleEndian.AppendUint32(nil, uint32(4+len(b))), b...)
}

// SignV4 makes the v4 signature of the signed APK z, signed by s, which
// must be its v3 signer (with key rotation, the newest key). It reads the
// whole file twice: once for the content digest, once for the tree.
func SignV4(z *zipx.Reader, s *Signer) (*V4Signature, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	digest, err := v4ContentDigest(z, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	tree, root, err := merkleTree(z.ReaderAt(), z.Size())
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(s.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("apksig: encoding public key: %w", err)
	}
	alg := s.v2Algorithm()
	v := &V4Signature{
		Version: v4Version, HashAlgorithm: v4HashSHA256, Log2BlockSize: v4Log2BlockSize, Salt: []byte{}, RootHash: root,
		APKDigest: digest, Certificate: s.Certs[0].Raw, AdditionalData: []byte{}, PublicKey: pub,
		SignatureAlgorithm: alg, Tree: tree,
	}
	h := algorithms[alg].hash.New()
	h.Write(v.signedData(z.Size()))
	if v.Signature, err = s.sign(h.Sum(nil), algorithms[alg].hash); err != nil {
		return nil, err
	}
	return v, nil
}

// Check reports whether v is a valid v4 signature of the APK z, as
// apksigner decides it: its APK digest is z's content digest, its root
// hash is that of z's Merkle tree, its
// certificate is one of z's v3 (else v2) signers and its signature
// verifies. A mismatch wraps ErrV4Mismatch; other errors are I/O.
func (v *V4Signature) Check(z *zipx.Reader) error {
	var hf crypto.Hash
	switch len(v.APKDigest) {
	case sha256.Size:
		hf = crypto.SHA256
	case crypto.SHA512.Size():
		hf = crypto.SHA512
	default:
		return fmt.Errorf("%w: APK digest of %d bytes is not a chunked SHA-256 or SHA-512 content digest", ErrV4Mismatch, len(v.APKDigest))
	}
	digest, err := v4ContentDigest(z, hf)
	if errors.Is(err, errNoSchemeSignature) {
		return fmt.Errorf("%w: %w", ErrV4Mismatch, err)
	} else if err != nil {
		return err
	}
	if !bytes.Equal(digest, v.APKDigest) {
		return fmt.Errorf("%w: its APK digest %x is not the APK's content digest %x (the APK changed or is another build)", ErrV4Mismatch, v.APKDigest, digest)
	}
	_, root, err := merkleTree(z.ReaderAt(), z.Size())
	if err != nil {
		return err
	}
	if !bytes.Equal(root, v.RootHash) {
		return fmt.Errorf("%w: its Merkle tree root hash is not the APK file's", ErrV4Mismatch)
	}
	cert, err := x509.ParseCertificate(v.Certificate)
	if err != nil {
		return fmt.Errorf("%w: certificate: %v", ErrV4Mismatch, err)
	}
	peek := Peek(z)
	signers := peek.V3.Signers
	if !peek.V3.Present {
		signers = peek.V2.Signers
	}
	if !slices.ContainsFunc(signers, func(si SignerInfo) bool { return si.Certificate.Equal(cert) }) {
		return fmt.Errorf("%w: signed by %s, which is not the APK's v2/v3 signer", ErrV4Mismatch, CertDigest(cert))
	}
	pub, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil || !bytes.Equal(pub, v.PublicKey) {
		return fmt.Errorf("%w: the public key is not the certificate's", ErrV4Mismatch)
	}
	a, ok := algorithms[v.SignatureAlgorithm]
	if !ok || a.content == 0 {
		return fmt.Errorf("%w: unsupported signature algorithm %#04x", ErrV4Mismatch, v.SignatureAlgorithm)
	}
	if err := verifySignature(cert.PublicKey, a, v.signedData(z.Size()), v.Signature); err != nil {
		return fmt.Errorf("%w: the signature does not verify: %v", ErrV4Mismatch, err)
	}
	return nil
}

// errNoSchemeSignature: an APK without v2/v3 signatures cannot have a v4 one.
var errNoSchemeSignature = errors.New("the APK has no v2 or v3 signature for a v4 signature to build on")

// v4ContentDigest is the v2/v3 content digest of z with hf, for an APK
// signed with v2 or v3 (the v4 signature builds on one of them).
func v4ContentDigest(z *zipx.Reader, hf crypto.Hash) ([]byte, error) {
	pairs, err := readSigningBlock(z)
	if err != nil {
		return nil, err
	}
	if findPair(pairs, blockIDV2) == nil && findPair(pairs, blockIDV3) == nil {
		return nil, errNoSchemeSignature
	}
	cd, eocd, err := archiveSections(z)
	if err != nil {
		return nil, err
	}
	return contentDigest(z.ReaderAt(), z.EntriesEnd(), cd, eocd, hf)
}

// merkleTree computes the v4 Merkle tree of the size bytes of r (layout in
// the FORMAT comment above) and its root hash. The tree is 1/128 of the
// file; the file itself is streamed through a 1 MiB buffer.
func merkleTree(r io.ReaderAt, size int64) (tree, root []byte, err error) {
	if size <= 0 {
		return nil, nil, fmt.Errorf("apksig: v4 tree of an empty file")
	}
	level := make([]byte, 0, (size+v4BlockSize-1)/v4BlockSize*sha256.Size)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return nil, nil, fmt.Errorf("apksig: v4 tree: reading at %d: %w", off, err)
		}
		level = hashBlocks(level, buf[:n])
		off += n
	}
	levels := [][]byte{padBlock(level)}
	for len(levels[0]) > v4BlockSize {
		levels = append([][]byte{padBlock(hashBlocks(nil, levels[0]))}, levels...)
	}
	d := sha256.Sum256(levels[0])
	return bytes.Join(levels, nil), d[:], nil
}

// hashBlocks appends to dst the SHA-256 of each 4096-byte block of data,
// the last one zero-padded.
func hashBlocks(dst, data []byte) []byte {
	var block [v4BlockSize]byte
	for len(data) > 0 {
		n := copy(block[:], data)
		clear(block[n:])
		d := sha256.Sum256(block[:])
		dst = append(dst, d[:]...)
		data = data[n:]
	}
	return dst
}

// padBlock zero-pads b to a multiple of 4096 bytes.
func padBlock(b []byte) []byte {
	if rem := len(b) % v4BlockSize; rem != 0 {
		b = append(b, make([]byte, v4BlockSize-rem)...)
	}
	return b
}
