package apksig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// FORMAT: APK Signature Scheme v2 block value (v3 adds the SDK fields marked
// v3). Every "lp" item is prefixed with its uint32 little-endian length.
//
//	lp sequence of lp signer:
//	  lp signed data:
//	    lp sequence of lp digest:      uint32 algorithm ID, lp digest
//	    lp sequence of lp certificate: X.509 DER
//	    v3: uint32 minSDK, uint32 maxSDK
//	    lp sequence of lp attribute:   uint32 ID, value
//	  v3: uint32 minSDK, uint32 maxSDK
//	  lp sequence of lp signature:     uint32 algorithm ID, lp signature over signed data
//	  lp public key:                   SubjectPublicKeyInfo DER

// lp appends b prefixed with its length.
func lp(dst, b []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// lpSeq encodes items as an lp sequence of lp items.
func lpSeq(items ...[]byte) []byte {
	var seq []byte
	for _, it := range items {
		seq = lp(seq, it)
	}
	return lp(nil, seq)
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// algorithm describes a signature algorithm ID.
type algorithm struct {
	id      uint32
	content crypto.Hash // content digest hash; 0 for verity (unsupported here)
	hash    crypto.Hash // hash signed over the signed data
	pss     bool
	rank    int // higher is preferred when several are offered
}

var algorithms = map[uint32]algorithm{
	algRSAPSSSHA256:   {algRSAPSSSHA256, crypto.SHA256, crypto.SHA256, true, 2},
	algRSAPSSSHA512:   {algRSAPSSSHA512, crypto.SHA512, crypto.SHA512, true, 3},
	algRSAPKCS1SHA256: {algRSAPKCS1SHA256, crypto.SHA256, crypto.SHA256, false, 2},
	algRSAPKCS1SHA512: {algRSAPKCS1SHA512, crypto.SHA512, crypto.SHA512, false, 3},
	algECDSASHA256:    {algECDSASHA256, crypto.SHA256, crypto.SHA256, false, 2},
	algECDSASHA512:    {algECDSASHA512, crypto.SHA512, crypto.SHA512, false, 3},
	algVerityRSAPKCS1: {algVerityRSAPKCS1, 0, crypto.SHA256, false, 1},
	algVerityECDSA:    {algVerityECDSA, 0, crypto.SHA256, false, 1},
}

// signerAlgorithm picks the algorithm we sign with: SHA-256 based, which
// every platform since Android 7.0 verifies.
func (s *Signer) v2Algorithm() uint32 {
	if s.isEC() {
		return algECDSASHA256
	}
	return algRSAPKCS1SHA256
}

// v3Params are the v3-only fields of a signer.
type v3Params struct {
	minSDK, maxSDK uint32
	attrs          [][]byte // encoded additional attributes (uint32 ID || value)
}

// encodeSigner builds one signer record; v3 is nil for v2.
func encodeSigner(s *Signer, digest []byte, v3 *v3Params, attrs [][]byte) ([]byte, error) {
	alg := s.v2Algorithm()
	certs := make([][]byte, len(s.Certs))
	for i, c := range s.Certs {
		certs[i] = c.Raw
	}
	var sd []byte
	sd = append(sd, lpSeq(append(u32(alg), lp(nil, digest)...))...)
	sd = append(sd, lpSeq(certs...)...)
	if v3 != nil {
		sd = append(sd, u32(v3.minSDK)...)
		sd = append(sd, u32(v3.maxSDK)...)
		attrs = v3.attrs
	}
	sd = append(sd, lpSeq(attrs...)...)

	h := algorithms[alg].hash.New()
	h.Write(sd)
	sig, err := s.sign(h.Sum(nil), algorithms[alg].hash)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(s.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("apksig: encoding public key: %w", err)
	}
	out := lp(nil, sd)
	if v3 != nil {
		out = append(out, u32(v3.minSDK)...)
		out = append(out, u32(v3.maxSDK)...)
	}
	out = append(out, lpSeq(append(u32(alg), lp(nil, sig)...))...)
	return lp(out, pub), nil
}

// lpReader decodes length-prefixed fields, remembering the first error.
type lpReader struct {
	b   []byte
	err error
}

func (r *lpReader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = fmt.Errorf("%w: truncated field", ErrMalformed)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *lpReader) next() []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: field of %d bytes, %d left", ErrMalformed, n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// items splits an lp sequence into its lp items.
func items(seq []byte) ([][]byte, error) {
	r := &lpReader{b: seq}
	var out [][]byte
	for len(r.b) > 0 && r.err == nil {
		out = append(out, r.next())
	}
	return out, r.err
}

// contentDigester computes (and caches) the content digest for a hash.
type contentDigester func(crypto.Hash) ([]byte, error)

// verifySchemeBlock verifies a v2 (isV3 false) or v3/v3.1 block value.
// name is used in messages ("APK Signature Scheme v2"). For v3 it returns
// the signers' proof-of-rotation lineage (the longest, when signers for
// different SDK ranges carry one each), or nil.
func verifySchemeBlock(value []byte, isV3 bool, name string, digest contentDigester, res *SchemeResult) (stripping []uint32, lineage *Lineage) {
	res.Present = true
	signers, err := items(lpSeqValue(value))
	if err != nil || len(signers) == 0 {
		res.fail("SIG_MALFORMED", "%s: malformed block: %v", name, err)
		return nil, nil
	}
	var lineages []*Lineage
	for i, raw := range signers {
		prefix := fmt.Sprintf("%s signer #%d", name, i+1)
		si, strip, l, ok := verifySigner(raw, isV3, prefix, digest, res)
		if ok {
			res.Signers = append(res.Signers, si)
		}
		if l != nil {
			lineages = append(lineages, l)
			if lineage == nil || len(l.Nodes) > len(lineage.Nodes) {
				lineage = l
			}
		}
		stripping = append(stripping, strip...)
	}
	// Every signer's lineage must be the start of the longest one.
	for _, l := range lineages {
		for i, n := range l.Nodes {
			if !bytes.Equal(n.Certificate.Raw, lineage.Nodes[i].Certificate.Raw) {
				res.fail("V3_INCONSISTENT_LINEAGES", "%s: the signers' signing certificate lineages disagree at certificate #%d", name, i+1)
				break
			}
		}
	}
	res.Verified = len(res.Errors) == 0
	return stripping, lineage
}

// lpSeqValue unwraps the outer length prefix of a block value, returning
// nil when malformed (items then reports it).
func lpSeqValue(v []byte) []byte {
	r := &lpReader{b: v}
	seq := r.next()
	if r.err != nil || len(r.b) != 0 {
		return []byte{0xff, 0xff, 0xff, 0xff}
	}
	return seq
}

func verifySigner(raw []byte, isV3 bool, prefix string, digest contentDigester, res *SchemeResult) (SignerInfo, []uint32, *Lineage, bool) {
	r := &lpReader{b: raw}
	signedData := r.next()
	var minSDK, maxSDK uint32
	if isV3 {
		minSDK, maxSDK = r.u32(), r.u32()
	}
	sigsSeq := r.next()
	pubDER := r.next()
	if r.err != nil {
		res.fail("SIG_MALFORMED_SIGNER", "%s: malformed signer: %v", prefix, r.err)
		return SignerInfo{}, nil, nil, false
	}
	sigs, err := items(sigsSeq)
	if err != nil || len(sigs) == 0 {
		res.fail("SIG_NO_SIGNATURES", "%s: no signatures", prefix)
		return SignerInfo{}, nil, nil, false
	}
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		res.fail("SIG_MALFORMED_PUBLIC_KEY", "%s: malformed public key: %v", prefix, err)
		return SignerInfo{}, nil, nil, false
	}

	// Pick the strongest supported signature and verify it over the signed data.
	var best algorithm
	var bestSig []byte
	var sigAlgs []uint32
	for _, s := range sigs {
		sr := &lpReader{b: s}
		id := sr.u32()
		sig := sr.next()
		if sr.err != nil {
			res.fail("SIG_MALFORMED_SIGNATURE", "%s: malformed signature record", prefix)
			return SignerInfo{}, nil, nil, false
		}
		sigAlgs = append(sigAlgs, id)
		if a, ok := algorithms[id]; ok && a.rank > best.rank {
			best, bestSig = a, sig
		}
	}
	if best.rank == 0 {
		res.fail("SIG_NO_SUPPORTED_SIGNATURES", "%s: no supported signature algorithm among %#x", prefix, sigAlgs)
		return SignerInfo{}, nil, nil, false
	}
	if err := verifySignature(pub, best, signedData, bestSig); err != nil {
		res.fail("SIG_DID_NOT_VERIFY", "%s: signature over signed data did not verify (algorithm %#04x): %v", prefix, best.id, err)
		return SignerInfo{}, nil, nil, false
	}

	sd := &lpReader{b: signedData}
	digestsSeq := sd.next()
	certsSeq := sd.next()
	var sdMin, sdMax uint32
	if isV3 {
		sdMin, sdMax = sd.u32(), sd.u32()
	}
	attrsSeq := sd.next()
	if sd.err != nil {
		res.fail("SIG_MALFORMED_SIGNED_DATA", "%s: malformed signed data: %v", prefix, sd.err)
		return SignerInfo{}, nil, nil, false
	}
	if isV3 && (sdMin != minSDK || sdMax != maxSDK) {
		res.fail("V3_SIG_SDK_MISMATCH", "%s: SDK range [%d, %d] in signed data differs from [%d, %d] outside it",
			prefix, sdMin, sdMax, minSDK, maxSDK)
	}
	certs, err := items(certsSeq)
	if err != nil || len(certs) == 0 {
		res.fail("SIG_NO_CERTIFICATES", "%s: no certificates", prefix)
		return SignerInfo{}, nil, nil, false
	}
	leaf, err := x509.ParseCertificate(certs[0])
	if err != nil {
		res.fail("SIG_MALFORMED_CERTIFICATE", "%s: malformed certificate: %v", prefix, err)
		return SignerInfo{}, nil, nil, false
	}
	if leafPub, err := x509.MarshalPKIXPublicKey(leaf.PublicKey); err != nil || !bytes.Equal(leafPub, pubDER) {
		res.fail("SIG_PUBLIC_KEY_MISMATCH", "%s: public key differs from the certificate's", prefix)
	}

	digests, err := items(digestsSeq)
	if err != nil {
		res.fail("SIG_MALFORMED_DIGESTS", "%s: malformed digests", prefix)
		return SignerInfo{}, nil, nil, false
	}
	var digestAlgs []uint32
	var want []byte
	for _, d := range digests {
		dr := &lpReader{b: d}
		id := dr.u32()
		v := dr.next()
		if dr.err != nil {
			res.fail("SIG_MALFORMED_DIGESTS", "%s: malformed digest record", prefix)
			return SignerInfo{}, nil, nil, false
		}
		digestAlgs = append(digestAlgs, id)
		if id == best.id {
			want = v
		}
	}
	if fmt.Sprint(digestAlgs) != fmt.Sprint(sigAlgs) {
		res.fail("SIG_DIGEST_ALGORITHMS_MISMATCH", "%s: signature algorithms %#x differ from digest algorithms %#x", prefix, sigAlgs, digestAlgs)
	}
	if best.content == 0 {
		res.fail("SIG_UNSUPPORTED_DIGEST", "%s: verity content digests are not supported", prefix)
	} else if got, err := digest(best.content); err != nil {
		res.fail("SIG_DIGEST_ERROR", "%s: computing content digest: %v", prefix, err)
	} else if !bytes.Equal(got, want) {
		res.fail("SIG_APK_DIGEST_DID_NOT_VERIFY", "%s: APK integrity check failed: %s content digest mismatch", prefix, best.content)
	}

	var stripping []uint32
	attrs, err := items(attrsSeq)
	if err != nil {
		res.fail("SIG_MALFORMED_ATTRIBUTES", "%s: malformed additional attributes", prefix)
	}
	for _, a := range attrs {
		if len(a) >= 8 && binary.LittleEndian.Uint32(a) == attrStrippingProtection {
			stripping = append(stripping, binary.LittleEndian.Uint32(a[4:]))
		}
	}
	var lineage *Lineage
	if isV3 {
		l, found, err := lineageAttribute(attrs)
		switch {
		case errors.Is(err, ErrLineageSignature):
			res.fail("V3_SIG_POR_DID_NOT_VERIFY", "%s: proof-of-rotation lineage: %v", prefix, err)
		case err != nil:
			res.fail("V3_SIG_MALFORMED_LINEAGE", "%s: proof-of-rotation lineage: %v", prefix, err)
		case found && !bytes.Equal(l.Nodes[len(l.Nodes)-1].Certificate.Raw, leaf.Raw):
			res.fail("V3_SIG_POR_CERT_MISMATCH", "%s: the proof-of-rotation lineage ends with certificate sha256 %s, not the signer's sha256 %s",
				prefix, CertDigest(l.Nodes[len(l.Nodes)-1].Certificate), CertDigest(leaf))
		default:
			lineage = l
		}
	}
	si := newSignerInfo(leaf)
	if isV3 {
		si.MinSDK, si.MaxSDK = minSDK, maxSDK
	}
	return si, stripping, lineage, true
}

func verifySignature(pub any, a algorithm, data, sig []byte) error {
	h := a.hash.New()
	h.Write(data)
	d := h.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if a.id == algECDSASHA256 || a.id == algECDSASHA512 || a.id == algVerityECDSA {
			return fmt.Errorf("ECDSA algorithm with an RSA key")
		}
		if a.pss {
			return rsa.VerifyPSS(k, a.hash, d, sig, &rsa.PSSOptions{SaltLength: a.hash.Size()})
		}
		return rsa.VerifyPKCS1v15(k, a.hash, d, sig)
	case *ecdsa.PublicKey:
		if a.id != algECDSASHA256 && a.id != algECDSASHA512 && a.id != algVerityECDSA {
			return fmt.Errorf("RSA algorithm with an ECDSA key")
		}
		if !ecdsa.VerifyASN1(k, d, sig) {
			return fmt.Errorf("ECDSA signature invalid")
		}
		return nil
	}
	return fmt.Errorf("unsupported public key %T", pub)
}

// maxSDKUnbounded is the maxSDK of a v3 signer valid for all future releases.
const maxSDKUnbounded = math.MaxInt32
