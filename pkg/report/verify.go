package report

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// maxReportLen caps the size of a report file: real ones are a few KiB.
const maxReportLen = 8 << 20

// Fields named by *MismatchError, as printed by `trustfuse verify --report`.
const (
	FieldSignature     = "signature"
	FieldSigner        = "signing certificate"
	FieldSubjectName   = "subject.name"
	FieldSubjectDigest = "subject.digest.sha256"
	FieldOutputSHA256  = "predicate.output.sha256"
	FieldOutputSigners = "predicate.output.signers"
)

// FormatError reports a report file that cannot be read: not JSON, not the
// shape the schema describes, bad base64, an unparsable certificate.
type FormatError struct {
	// Offset is the byte offset of the problem in the file — or in the
	// decoded payload when Field starts with "payload" — or -1.
	Offset int64
	// Field is the JSON location ("/dsseEnvelope/payload",
	// "payload/predicate/build/time"); "" for the whole document.
	Field  string
	Reason string
	Err    error
}

// Error describes the problem and where it is.
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("report: malformed report")
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Reason)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Offset >= 0 {
		b.WriteString(" (at byte " + strconv.FormatInt(e.Offset, 10) + ")")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FormatError) Unwrap() error { return e.Err }

// MismatchError says that the report does not vouch for the artifact: the
// signature does not verify, or a field differs from what the artifact
// shows. Want is what the artifact (or the signature check) requires, Got
// what the report holds.
type MismatchError struct {
	Field string `json:"field"`
	Want  string `json:"want"`
	Got   string `json:"got"`
}

// Error names the field and both values.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("report: %s does not match: the artifact has %s, the report has %s", e.Field, e.Want, e.Got)
}

// Match is one check that passed and the value it agreed on.
type Match struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// Report is a decoded report file whose signature verified.
type Report struct {
	// Statement is the decoded payload.
	Statement *Statement
	// Payload is the signed payload, as carried.
	Payload []byte
	// Chain is the certificate chain carried beside the envelope, leaf
	// first; the leaf's key made the signature.
	Chain []*x509.Certificate
	// KeyID is the lowercase hex SHA-256 of the leaf's DER.
	KeyID string
	// Matched lists the checks that passed, in order.
	Matched []Match
}

// Open decodes a report file, checks it against the schema and verifies
// the DSSE signature with the public key of the leaf of its own
// certificate chain. It does not decide whether that key is trusted: see
// [Verify]. A file that cannot be read gives a *FormatError, a signature
// that does not verify a *MismatchError with Field [FieldSignature].
func Open(data []byte) (*Report, error) {
	if len(data) > maxReportLen {
		return nil, &FormatError{Offset: -1, Reason: fmt.Sprintf("%d bytes (at most %d)", len(data), maxReportLen)}
	}
	// Cheap checks first: JSON that does not parse costs no schema compile.
	if _, err := decodeJSON(data, ""); err != nil {
		return nil, err
	}
	sc, err := compileSchemas()
	if err != nil {
		return nil, err
	}
	if err := sc.validateFile(data); err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, jsonError(err, "", -1)
	}
	chain := make([]*x509.Certificate, 0, len(f.CertificateChain))
	for i, s := range f.CertificateChain {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, &FormatError{Offset: -1, Field: fmt.Sprintf("/certificateChain/%d", i), Reason: "bad base64", Err: err}
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, &FormatError{Offset: -1, Field: fmt.Sprintf("/certificateChain/%d", i), Reason: "not an X.509 certificate", Err: err}
		}
		chain = append(chain, c)
	}
	payload, err := f.DSSEEnvelope.DecodeB64Payload()
	if err != nil {
		return nil, &FormatError{Offset: -1, Field: "/dsseEnvelope/payload", Reason: "bad base64", Err: err}
	}
	leaf := chain[0]
	keyID := KeyID(leaf)
	v, err := newVerifier(leaf, keyID)
	if err != nil {
		return nil, err
	}
	ev, err := dsse.NewEnvelopeVerifier(v)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if _, err := ev.Verify(context.Background(), &f.DSSEEnvelope); err != nil {
		return nil, &MismatchError{Field: FieldSignature,
			Want: "a valid DSSE signature by the certificate it carries (sha256 " + keyID + ")",
			Got:  "a signature that does not verify (payload or signature changed, or signed by another key)"}
	}
	r := &Report{Payload: payload, Chain: chain, KeyID: keyID,
		Matched: []Match{{FieldSignature, "valid, by certificate sha256 " + keyID + " (" + leaf.Subject.String() + ")"}}}
	if err := sc.validateStatement(payload); err != nil {
		return nil, err
	}
	r.Statement = new(Statement)
	if err := json.Unmarshal(payload, r.Statement); err != nil {
		return nil, jsonError(err, "payload", -1)
	}
	return r, nil
}

// Expect is what the artifact a report is checked against shows.
type Expect struct {
	// Name is the artifact's file name (no directory); "" skips the
	// subject name check.
	Name string
	// SHA256 is the lowercase hex SHA-256 of the artifact file.
	SHA256 string
	// Signers are the SHA-256 digests of the certificates whose APK
	// signatures verified. The report must be signed by one of them.
	Signers []string
}

// Verify opens a report (see [Open]) and checks that it vouches for the
// artifact described by want:
//
//   - the report's signing certificate is one of want.Signers: the key that
//     signed the APK signed the report, so a report re-signed by anyone
//     else fails;
//   - the subject's name and sha256 are the artifact's;
//   - the predicate's output sha256 and signers are the artifact's.
//
// A report that does not vouch for the artifact gives a *MismatchError
// (several joined with errors.Join when more than one field differs); the
// returned *Report is then still set once the signature has verified, so
// callers can show what the report says.
func Verify(data []byte, want Expect) (*Report, error) {
	r, err := Open(data)
	if err != nil {
		return nil, err
	}
	signers := normalized(want.Signers)
	if !slices.Contains(signers, r.KeyID) {
		have := strings.Join(signers, ", ")
		if have == "" {
			have = "no verified signer"
		}
		return r, &MismatchError{Field: FieldSigner, Want: "signer sha256 " + have, Got: "a signature by sha256 " + r.KeyID}
	}
	r.Matched = append(r.Matched, Match{FieldSigner, "the APK's signer, sha256 " + r.KeyID})

	var errs []error
	check := func(field, wantV, gotV, shown string) {
		if wantV != gotV {
			errs = append(errs, &MismatchError{Field: field, Want: wantV, Got: gotV})
			return
		}
		r.Matched = append(r.Matched, Match{field, shown})
	}
	sub := r.Statement.Subject[0]
	if want.Name != "" {
		check(FieldSubjectName, want.Name, sub.Name, sub.Name)
	}
	wantSum := strings.ToLower(want.SHA256)
	check(FieldSubjectDigest, wantSum, sub.Digest["sha256"], wantSum)
	out := r.Statement.Predicate.Output
	check(FieldOutputSHA256, wantSum, out.SHA256, wantSum)
	gotSigners := strings.Join(normalized(out.Signers), ", ")
	check(FieldOutputSigners, strings.Join(signers, ", "), gotSigners, gotSigners)
	return r, errors.Join(errs...)
}

// normalized returns the digests lowercased, sorted and without repeats.
func normalized(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = strings.ToLower(d)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// verifier checks DSSE signatures with a certificate's RSA (PKCS#1 v1.5)
// or ECDSA key over SHA-256.
type verifier struct {
	pub   crypto.PublicKey
	keyID string
}

func newVerifier(leaf *x509.Certificate, keyID string) (*verifier, error) {
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return &verifier{pub: leaf.PublicKey, keyID: keyID}, nil
	}
	return nil, &FormatError{Offset: -1, Field: "/certificateChain/0",
		Reason: fmt.Sprintf("%s key: reports are signed with RSA or ECDSA", leaf.PublicKeyAlgorithm)}
}

// Verify checks sig over SHA-256(data).
func (v *verifier) Verify(_ context.Context, data, sig []byte) error {
	d := sha256.Sum256(data)
	switch pub := v.pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			return errors.New("report: ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("report: unsupported key")
}

// KeyID returns the certificate digest.
func (v *verifier) KeyID() (string, error) { return v.keyID, nil }

// Public returns the public key.
func (v *verifier) Public() crypto.PublicKey { return v.pub }
