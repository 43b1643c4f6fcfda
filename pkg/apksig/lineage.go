package apksig

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// Signing certificate lineage (proof of rotation), APK Signature Scheme v3.
//
// FORMAT: lineage file, as `apksigner rotate --out` writes it (little endian):
//
//	uint32 magic 0x3eff39d1
//	uint32 file version 1
//	lp encoded lineage
//
// FORMAT: encoded lineage, also the value of the v3 signer attribute
// 0x3ba06f8c (proof of rotation):
//
//	uint32 version 1
//	lp node, repeated to the end, oldest certificate first:
//	  lp signed data:
//	    lp certificate (X.509 DER)
//	    uint32 algorithm ID the parent signed this node with (0 for the first)
//	  uint32 capability flags granted to this certificate
//	  uint32 algorithm ID this node signs the next node with (0 for the last)
//	  lp signature by the parent's key over signed data (empty for the first)
const (
	lineageMagic    = 0x3eff39d1
	lineageVersion  = 1
	maxLineageSize  = 1 << 20 // a lineage file or attribute larger than this is refused
	maxLineageNodes = 64      // rotations in one lineage
)

// Capabilities a lineage grants an older signing certificate once the app is
// signed by a newer one (Android's PAST_CERT_* flags).
const (
	CapInstalledData uint32 = 1  // accept data from an installed app signed by it
	CapSharedUserID  uint32 = 2  // share a sharedUserId with apps signed by it
	CapPermission    uint32 = 4  // grant signature permissions to apps signed by it
	CapRollback      uint32 = 8  // allow updates back to it (undoes the rotation's benefit)
	CapAuth          uint32 = 16 // keep AccountManager authenticator access

	// DefaultCapabilities is what `apksigner rotate` grants: everything but rollback.
	DefaultCapabilities = CapInstalledData | CapSharedUserID | CapPermission | CapAuth
)

// Lineage errors: ErrLineage for a lineage that cannot be parsed,
// ErrLineageSignature for one whose chain of signatures does not verify.
// Both come wrapped in a *LineageError carrying the byte offset.
var (
	ErrLineage          = errors.New("apksig: malformed signing certificate lineage")
	ErrLineageSignature = errors.New("apksig: signing certificate lineage does not verify")
)

// LineageError locates a problem in a lineage.
type LineageError struct {
	Offset int64  // byte offset in the lineage file or attribute value
	Node   int    // 1-based node number, 0 when not inside a node
	Detail string // what is wrong
	Err    error  // ErrLineage or ErrLineageSignature
}

// Error formats the kind, the node, the detail and the offset.
func (e *LineageError) Error() string {
	msg := e.Err.Error()
	if e.Node > 0 {
		msg += fmt.Sprintf(": certificate #%d", e.Node)
	}
	return fmt.Sprintf("%s: %s (at offset %d)", msg, e.Detail, e.Offset)
}

// Unwrap returns the sentinel kind.
func (e *LineageError) Unwrap() error { return e.Err }

// LineageNode is one certificate of a lineage.
type LineageNode struct {
	// Certificate is the signing certificate of this generation.
	Certificate *x509.Certificate
	// Capabilities are the Cap* flags this certificate keeps once a newer
	// one signs the app.
	Capabilities uint32

	parentAlg uint32 // algorithm the previous node signed this one with
	alg       uint32 // algorithm this node signs the next one with
	signature []byte // previous node's signature over the signed data
}

// Lineage is a signing certificate history, oldest first: each certificate
// after the first is vouched for by a signature of the one before it. An APK
// signed with the last certificate and carrying the lineage in its v3
// signature can update an app installed with any earlier one (Android 9+).
type Lineage struct {
	Nodes []LineageNode
}

// Certificates returns the certificates of the lineage, oldest first.
func (l *Lineage) Certificates() []*x509.Certificate {
	out := make([]*x509.Certificate, len(l.Nodes))
	for i, n := range l.Nodes {
		out[i] = n.Certificate
	}
	return out
}

// index returns the position of cert in the lineage, or -1.
func (l *Lineage) index(cert *x509.Certificate) int {
	for i, n := range l.Nodes {
		if bytes.Equal(n.Certificate.Raw, cert.Raw) {
			return i
		}
	}
	return -1
}

// ParseLineage reads a lineage file (as `apksigner rotate` writes it) and
// verifies its chain of signatures.
func ParseLineage(b []byte) (*Lineage, error) {
	fail := func(off int, format string, args ...any) error {
		return &LineageError{Offset: int64(off), Detail: fmt.Sprintf(format, args...), Err: ErrLineage}
	}
	if len(b) > maxLineageSize {
		return nil, fail(0, "%d bytes (limit %d)", len(b), maxLineageSize)
	}
	if len(b) < 12 {
		return nil, fail(0, "%d bytes: too short for a lineage file header", len(b))
	}
	if m := binary.LittleEndian.Uint32(b); m != lineageMagic {
		return nil, fail(0, "magic %#08x, want %#08x (not a lineage file)", m, lineageMagic)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != lineageVersion {
		return nil, fail(4, "file version %d, want %d", v, lineageVersion)
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) != uint64(len(b)-12) {
		return nil, fail(8, "encoded lineage of %d bytes, file has %d after the header", n, len(b)-12)
	}
	return parseEncodedLineage(b[12:], 12)
}

// parseEncodedLineage decodes and verifies an encoded lineage (the v3
// proof-of-rotation attribute value); base is its offset in the enclosing
// data, for error messages.
func parseEncodedLineage(b []byte, base int) (*Lineage, error) {
	fail := func(off, node int, kind error, format string, args ...any) error {
		return &LineageError{Offset: int64(base + off), Node: node, Detail: fmt.Sprintf(format, args...), Err: kind}
	}
	if len(b) > maxLineageSize {
		return nil, fail(0, 0, ErrLineage, "%d bytes (limit %d)", len(b), maxLineageSize)
	}
	if len(b) < 4 {
		return nil, fail(0, 0, ErrLineage, "no version")
	}
	if v := binary.LittleEndian.Uint32(b); v != lineageVersion {
		return nil, fail(0, 0, ErrLineage, "version %d, want %d", v, lineageVersion)
	}
	l := &Lineage{}
	off := 4
	for off < len(b) {
		num := len(l.Nodes) + 1
		if num > maxLineageNodes {
			return nil, fail(off, num, ErrLineage, "more than %d certificates", maxLineageNodes)
		}
		r := &lpReader{b: b[off:]}
		node := r.next()
		if r.err != nil {
			return nil, fail(off, num, ErrLineage, "%v", r.err)
		}
		nodeOff := off + 4
		off += 4 + len(node)

		nr := &lpReader{b: node}
		signedData := nr.next()
		flags := nr.u32()
		alg := nr.u32()
		sig := nr.next()
		if nr.err != nil {
			return nil, fail(nodeOff, num, ErrLineage, "%v", nr.err)
		}
		if len(nr.b) != 0 {
			return nil, fail(nodeOff, num, ErrLineage, "%d bytes after the signature", len(nr.b))
		}
		sr := &lpReader{b: signedData}
		der := sr.next()
		parentAlg := sr.u32()
		if sr.err != nil || len(sr.b) != 0 {
			return nil, fail(nodeOff, num, ErrLineage, "malformed signed data")
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fail(nodeOff+8, num, ErrLineage, "certificate: %v", err)
		}

		if len(l.Nodes) > 0 {
			parent := l.Nodes[len(l.Nodes)-1]
			if parentAlg != parent.alg {
				return nil, fail(nodeOff, num, ErrLineageSignature,
					"signed with algorithm %#04x but the previous certificate names %#04x", parentAlg, parent.alg)
			}
			a, ok := algorithms[parent.alg]
			if !ok {
				return nil, fail(nodeOff, num, ErrLineageSignature, "unknown signature algorithm %#04x", parent.alg)
			}
			if err := verifySignature(parent.Certificate.PublicKey, a, signedData, sig); err != nil {
				return nil, fail(nodeOff, num, ErrLineageSignature,
					"signature by certificate #%d (algorithm %#04x): %v", num-1, parent.alg, err)
			}
		}
		if l.index(cert) >= 0 {
			return nil, fail(nodeOff, num, ErrLineage, "certificate appears twice (%s)", CertDigest(cert))
		}
		l.Nodes = append(l.Nodes, LineageNode{
			Certificate:  cert,
			Capabilities: flags,
			parentAlg:    parentAlg,
			alg:          alg,
			signature:    sig,
		})
	}
	if len(l.Nodes) == 0 {
		return nil, fail(off, 0, ErrLineage, "no certificates")
	}
	return l, nil
}

// encode returns the encoded lineage (the proof-of-rotation attribute value).
func (l *Lineage) encode() []byte {
	out := binary.LittleEndian.AppendUint32(nil, lineageVersion)
	for _, n := range l.Nodes {
		sd := lp(nil, n.Certificate.Raw)
		sd = binary.LittleEndian.AppendUint32(sd, n.parentAlg)
		node := lp(nil, sd)
		node = binary.LittleEndian.AppendUint32(node, n.Capabilities)
		node = binary.LittleEndian.AppendUint32(node, n.alg)
		node = lp(node, n.signature)
		out = lp(out, node)
	}
	return out
}

// MarshalBinary encodes the lineage as a lineage file, the format `apksigner
// rotate` writes and `apksigner sign --lineage` reads.
func (l *Lineage) MarshalBinary() ([]byte, error) {
	if len(l.Nodes) == 0 {
		return nil, fmt.Errorf("%w: no certificates", ErrLineage)
	}
	out := binary.LittleEndian.AppendUint32(nil, lineageMagic)
	out = binary.LittleEndian.AppendUint32(out, lineageVersion)
	return lp(out, l.encode()), nil
}

// Rotate returns a lineage extending l (nil: a new lineage starting with
// parent) with child's certificate, vouched for by parent's key, granting
// the new certificate caps. Parent must be the last certificate of l. Like
// `apksigner rotate`, it signs with SHA-256 (RSA PKCS#1 v1.5 or ECDSA); the
// signature is deterministic.
func Rotate(l *Lineage, parent, child *Signer, caps uint32) (*Lineage, error) {
	for _, s := range []*Signer{parent, child} {
		if err := s.check(); err != nil {
			return nil, err
		}
	}
	out := &Lineage{}
	if l == nil {
		out.Nodes = []LineageNode{{Certificate: parent.Certs[0], Capabilities: DefaultCapabilities}}
	} else {
		if len(l.Nodes) == 0 || !bytes.Equal(l.Nodes[len(l.Nodes)-1].Certificate.Raw, parent.Certs[0].Raw) {
			return nil, fmt.Errorf("%w: the parent signer is not the last certificate of the lineage", ErrOptions)
		}
		out.Nodes = append(out.Nodes, l.Nodes...)
	}
	if out.index(child.Certs[0]) >= 0 {
		return nil, fmt.Errorf("%w: the new certificate is already in the lineage", ErrOptions)
	}
	alg := parent.v2Algorithm()
	sd := lp(nil, child.Certs[0].Raw)
	sd = binary.LittleEndian.AppendUint32(sd, alg)
	h := algorithms[alg].hash.New()
	h.Write(sd)
	sig, err := parent.sign(h.Sum(nil), algorithms[alg].hash)
	if err != nil {
		return nil, err
	}
	out.Nodes[len(out.Nodes)-1].alg = alg
	out.Nodes = append(out.Nodes, LineageNode{Certificate: child.Certs[0], Capabilities: caps, parentAlg: alg, signature: sig})
	return out, nil
}

// matchesCert reports a signer whose key is not its certificate's key: its
// signatures would not verify.
func (s *Signer) matchesCert() error {
	pub, err1 := x509.MarshalPKIXPublicKey(s.Key.Public())
	certPub, err2 := x509.MarshalPKIXPublicKey(s.Certs[0].PublicKey)
	if err1 != nil || err2 != nil || !bytes.Equal(pub, certPub) {
		return fmt.Errorf("%w: the private key does not belong to certificate %s", ErrOptions, s.Certs[0].Subject)
	}
	return nil
}

// ReadLineage returns the lineage of z's v3 signature (the newest signer's
// proof-of-rotation attribute), verified, or nil if the v3 signers carry
// none. Like `apksigner lineage --in app.apk`, it does not verify the APK
// itself: use Verify for that.
func ReadLineage(z *zipx.Reader) (*Lineage, error) {
	pairs, err := readSigningBlock(z)
	if err != nil {
		return nil, err
	}
	v3 := findPair(pairs, blockIDV3)
	if v3 == nil {
		return nil, nil
	}
	signers, err := items(lpSeqValue(v3))
	if err != nil {
		return nil, fmt.Errorf("%w: v3 signers: %w", ErrMalformed, err)
	}
	var best *Lineage
	for _, raw := range signers {
		attrs, err := v3SignerAttributes(raw)
		if err != nil {
			return nil, err
		}
		l, _, err := lineageAttribute(attrs)
		if err != nil {
			return nil, err
		}
		if l != nil && (best == nil || len(l.Nodes) > len(best.Nodes)) {
			best = l
		}
	}
	return best, nil
}

// v3SignerAttributes returns the additional attributes of a v3 signer record.
func v3SignerAttributes(raw []byte) ([][]byte, error) {
	r := &lpReader{b: raw}
	sd := &lpReader{b: r.next()}
	sd.next() // digests
	sd.next() // certificates
	sd.u32()  // minSDK
	sd.u32()  // maxSDK
	attrs := sd.next()
	if r.err != nil || sd.err != nil {
		return nil, fmt.Errorf("%w: malformed v3 signer", ErrMalformed)
	}
	return items(attrs)
}

// lineageAttribute finds the proof-of-rotation attribute among a v3
// signer's attributes and decodes and verifies it. found reports whether
// the attribute was present (even if it did not parse); when several are
// present the last counts, as in apksig.
func lineageAttribute(attrs [][]byte) (l *Lineage, found bool, err error) {
	for _, a := range attrs {
		if len(a) >= 4 && binary.LittleEndian.Uint32(a) == attrProofOfRotation {
			found = true
			l, err = parseEncodedLineage(a[4:], 0)
		}
	}
	return l, found, err
}

// rotation is how Sign uses a lineage: v1 and v2 are signed by past (the
// first certificate of the lineage), v3 by the current signer with attr.
type rotation struct {
	past *Signer
	attr []byte // encoded proof-of-rotation attribute: uint32 ID || lineage
}

// rotationFor checks opts.Lineage and opts.OldSigner against the current
// signer s: the lineage must start with the old signer's certificate and end
// with s's. It returns nil when no lineage is given.
func rotationFor(s *Signer, opts Options) (*rotation, error) {
	if opts.Lineage == nil {
		if opts.OldSigner != nil {
			return nil, fmt.Errorf("%w: an old signer without a lineage (the lineage proves the rotation to the new key)", ErrOptions)
		}
		return nil, nil
	}
	l, err := ParseLineage(opts.Lineage)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	last := l.Nodes[len(l.Nodes)-1].Certificate
	if !bytes.Equal(last.Raw, s.Certs[0].Raw) {
		where := "is not in it"
		if i := l.index(s.Certs[0]); i >= 0 {
			where = fmt.Sprintf("is certificate #%d of %d", i+1, len(l.Nodes))
		}
		return nil, fmt.Errorf("%w: the lineage must end with the signing certificate: it ends with %s (sha256 %s); the signer %s (sha256 %s) %s",
			ErrOptions, last.Subject, CertDigest(last), s.Certs[0].Subject, CertDigest(s.Certs[0]), where)
	}
	if opts.OldSigner == nil {
		return nil, fmt.Errorf("%w: a lineage needs the old signer: v1 and v2 are signed with the lineage's first certificate, %s (sha256 %s)",
			ErrOptions, l.Nodes[0].Certificate.Subject, CertDigest(l.Nodes[0].Certificate))
	}
	if err := opts.OldSigner.check(); err != nil {
		return nil, fmt.Errorf("old signer: %w", err)
	}
	first := l.Nodes[0].Certificate
	if !bytes.Equal(first.Raw, opts.OldSigner.Certs[0].Raw) {
		return nil, fmt.Errorf("%w: the old signer %s (sha256 %s) is not the lineage's first certificate %s (sha256 %s)",
			ErrOptions, opts.OldSigner.Certs[0].Subject, CertDigest(opts.OldSigner.Certs[0]), first.Subject, CertDigest(first))
	}
	return &rotation{past: opts.OldSigner, attr: append(u32(attrProofOfRotation), l.encode()...)}, nil
}
