// Package fusionset reads and validates Fusion Sets: the JSON documents that
// name the protections `trustfuse fuse` applies to an app — the client
// identity sealed into it and the hosts it is presented to, the attestation
// service, and one mode (off, detect, defend) per threat.
//
// [Load] checks a Fusion Set against the embedded JSON Schema ([Schema],
// draft 2020-12), then checks what a schema cannot say: durations in range,
// URLs and host names that mean what they look like, referenced files that
// exist, and a client certificate that decodes with its password, has a
// private key, is valid now and may be used for TLS client authentication —
// or, for an attested identity (mtls.identity), an issuer CA that is a CA
// and no private key at all.
// It reports every problem it finds, each with the line and column of the
// value in the file, in one *[ValidationError].
//
// Files may carry `//` line comments (as `trustfuse init-fusion-set` writes
// them); they are not part of the document and do not change its [FusionSet.SHA256].
package fusionset

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/internal/jcs"
	"github.com/trustfuse/trustfuse/internal/jsonpos"
	"github.com/trustfuse/trustfuse/internal/readlimit"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// maxFileLen caps the size of a Fusion Set file: real ones are a few KiB.
const maxFileLen = 1 << 20

// Mode is what the app does about a threat.
type Mode string

// Threat modes (DESIGN §4).
const (
	// ModeOff: no check.
	ModeOff Mode = "off"
	// ModeDetect: the app is told with a Threat-Event and decides; nothing
	// is enforced (unless failSafeEnforce and the app does not act in time).
	ModeDetect Mode = "detect"
	// ModeDefend: enforced — the client certificate is dropped and
	// connections to the hosts are blocked; the user sees the message.
	ModeDefend Mode = "defend"
)

// ThreatID names a threat.
type ThreatID string

// The threats a Fusion Set configures.
const (
	ThreatTamper   ThreatID = "tamper"   // repackaged: signer or dex digests changed
	ThreatDebugger ThreatID = "debugger" // a debugger is attached
	ThreatRoot     ThreatID = "root"     // rooted device
	ThreatEmulator ThreatID = "emulator" // emulator
	ThreatHooking  ThreatID = "hooking"  // Frida, Xposed and the like
	ThreatMITM     ThreatID = "mitm"     // connection to a host intercepted
)

// ThreatIDs returns every threat, in the order reports list them.
func ThreatIDs() []ThreatID {
	return []ThreatID{ThreatTamper, ThreatDebugger, ThreatRoot, ThreatEmulator, ThreatHooking, ThreatMITM}
}

// DefaultScore is a threat's score when the Fusion Set gives none: how much
// it adds to the running total carried by Threat-Events.
func DefaultScore(id ThreatID) int {
	switch id {
	case ThreatTamper:
		return 100
	case ThreatHooking:
		return 90
	case ThreatMITM:
		return 80
	case ThreatDebugger:
		return 70
	case ThreatRoot:
		return 60
	case ThreatEmulator:
		return 40
	}
	return 50
}

// DefaultMessage is the text shown to the user when a defended threat has
// no message of its own.
func DefaultMessage(id ThreatID) string {
	switch id {
	case ThreatTamper:
		return "This app has been modified and cannot run safely. Please reinstall it from the official store."
	case ThreatDebugger:
		return "A debugger is attached to this app. It cannot continue."
	case ThreatRoot:
		return "This device is rooted. The app cannot run securely on it."
	case ThreatEmulator:
		return "This app cannot run on an emulator."
	case ThreatHooking:
		return "A tool that tampers with apps is active on this device. The app cannot continue."
	case ThreatMITM:
		return "Your connection is being intercepted. The app has stopped connecting."
	}
	return "A security threat was detected. The app cannot continue."
}

// Defaults of optional fields.
const (
	DefaultTokenHeader   = "TrustFuse-Token"
	DefaultTokenTTL      = 5 * time.Minute
	DefaultFailSafeAfter = 30 * time.Second
)

// FusionSet is a validated Fusion Set. After [Load], optional fields hold
// their defaults (every threat is present, events are enabled unless turned
// off, durations are filled in), ClientIdentity and PinnedCAs are loaded,
// and Canonical is the document as written, in canonical form.
type FusionSet struct {
	// Schema is the optional "$schema" URL editors use.
	Schema string `json:"$schema,omitempty"`
	// FusionSetID is fusionSetId: 3–64 lowercase letters, digits and '-'.
	FusionSetID string `json:"fusionSetId"`
	// Name is a human-readable name.
	Name string `json:"name"`
	// Version is the Fusion Set's revision, ≥ 1.
	Version int `json:"version"`
	// MTLS is the client identity and the hosts it is presented to.
	MTLS MTLS `json:"mtls"`
	// Attestation is the attestation service; its Endpoint is "" when the
	// Fusion Set has none (the app then presents only its client
	// certificate): see HasAttestation.
	Attestation Attestation `json:"attestation"`
	// Threats holds one entry per ThreatIDs() after Load.
	Threats map[ThreatID]Threat `json:"threats"`
	// ThreatEvents says how the app is told about threats.
	ThreatEvents ThreatEvents `json:"threatEvents"`

	// File is the path given to Load.
	File string `json:"-"`
	// ClientIdentity is the decoded client private key and certificate
	// chain (leaf first), to be sealed into the app.
	ClientIdentity *keys.Signer `json:"-"`
	// PinnedCAs are the certificates of mtls.pinServerCA (nil without it).
	PinnedCAs []*x509.Certificate `json:"-"`
	// IssuerCAs are the certificates of mtls.issuerCA, as given (nil
	// without it): the CA(s) serve issues attested device certificates
	// under, sealed into the app in place of a client identity.
	IssuerCAs []*x509.Certificate `json:"-"`
	// Warnings are things worth telling the user that do not make the
	// Fusion Set invalid (a literal password, a certificate expiring soon).
	Warnings []Problem `json:"-"`

	canonical []byte
}

// MTLS is the "mtls" object.
type MTLS struct {
	// Identity says where the client private key lives; Load sets "" to
	// embedded.
	Identity IdentityMode `json:"identity,omitempty"`
	// ClientCertificate is the PKCS#12 file reference, "file:PATH" ("" in
	// attested mode).
	ClientCertificate string `json:"clientCertificate,omitempty"`
	// Password is the secret reference of the PKCS#12 password.
	Password SecretRef `json:"password,omitempty"`
	// Hosts are the DNS names or IP addresses the certificate is presented to.
	Hosts []string `json:"hosts"`
	// PinServerCA is the file reference of the pinned server CA(s), or "".
	PinServerCA string `json:"pinServerCA,omitempty"`
	// IssuerCA is the file reference of the CA certificate(s) serve issues
	// attested device certificates under ("" in embedded mode).
	IssuerCA string `json:"issuerCA,omitempty"`
	// AttestedCertificate is what serve certifies and how (attested modes).
	AttestedCertificate AttestedCertificate `json:"attestedCertificate"`
}

// IdentityMode is where the app's mTLS client private key lives.
type IdentityMode string

// Identity modes (mtls.identity).
const (
	// IdentityEmbedded: the client certificate and its private key are
	// sealed into the package (every copy carries the same key).
	IdentityEmbedded IdentityMode = "embedded"
	// IdentityAttested: no private key in the package; the device makes a
	// non-exportable key in its keystore, proves it with Key Attestation,
	// and serve certifies it (POST /v1/certificate).
	IdentityAttested IdentityMode = "attested"
	// IdentityAttestedOrEmbedded: attested where the device can attest its
	// key, the embedded client certificate elsewhere.
	IdentityAttestedOrEmbedded IdentityMode = "attested-or-embedded"
)

// Attested reports whether devices obtain their certificate from serve.
func (m IdentityMode) Attested() bool {
	return m == IdentityAttested || m == IdentityAttestedOrEmbedded
}

// Embeds reports whether the package carries a client private key.
func (m IdentityMode) Embeds() bool { return m != IdentityAttested }

// Bounds and defaults of mtls.attestedCertificate.
const (
	DefaultAttestedValidity = 24 * time.Hour
	MinAttestedValidity     = 5 * time.Minute
	MaxAttestedValidity     = 7 * 24 * time.Hour
)

// AttestedCertificate is the "mtls.attestedCertificate" object: the device
// certificate serve issues in attested modes. Load fills every default.
type AttestedCertificate struct {
	// Validity is the certificate lifetime as written ("24h"); see Lifetime.
	Validity string `json:"validity,omitempty"`
	// MinSecurityLevel is the least keystore security level of the device
	// key: software, tee or strongbox.
	MinSecurityLevel string `json:"minSecurityLevel,omitempty"`
	// StrongBox is prefer (generate the key in StrongBox when the device
	// has one) or off.
	StrongBox string `json:"strongBox,omitempty"`
	// RequireVerifiedBoot demands verified boot state "verified" and a
	// locked bootloader in the key's attestation (default true).
	RequireVerifiedBoot *bool `json:"requireVerifiedBoot,omitempty"`
}

// Lifetime returns the certificate validity.
func (a AttestedCertificate) Lifetime() time.Duration {
	d, err := time.ParseDuration(a.Validity)
	if err != nil {
		return DefaultAttestedValidity
	}
	return d
}

// Attestation is the "attestation" object.
type Attestation struct {
	// Endpoint is the base URL of the attestation service.
	Endpoint string `json:"endpoint"`
	// TokenHeader is the HTTP header carrying the token.
	TokenHeader string `json:"tokenHeader,omitempty"`
	// TokenTTL is the token lifetime as written ("5m"); see TTL.
	TokenTTL string `json:"tokenTTL,omitempty"`
	// PlaySigningCertDigests are the Play App Signing certificate SHA-256
	// digests; after Load, 64 lowercase hex digits each.
	PlaySigningCertDigests []string `json:"playSigningCertDigests,omitempty"`
	// KeyAttestation is the Android Key Attestation the app adds to its
	// attestation and serve demands.
	KeyAttestation KeyAttestation `json:"keyAttestation"`
	// AppAttest is the App Attest (DeviceCheck) attestation an iOS app adds
	// to its attestation and serve demands; iOS only.
	AppAttest AppAttest `json:"appAttest"`
}

// AppAttest is the "attestation.appAttest" object: a Secure Enclave key
// certified by Apple's App Attestation root for the app's team and bundle
// id, with the nonce as its challenge (iOS 14+). The team id serve checks
// is the new signature's, so the Fusion Set does not name it.
type AppAttest struct {
	// Mode is off (no attestation object sent), optional (sent when the
	// device supports App Attest, checked when sent) or required (refused
	// without a valid one). Load sets "" to off.
	Mode KeyAttestationMode `json:"mode"`
	// AllowDevelopment accepts objects from Apple's development
	// environment (apps signed with a development profile).
	AllowDevelopment bool `json:"allowDevelopment,omitempty"`
}

// KeyAttestation is the "attestation.keyAttestation" object: a hardware
// key attestation chain (Android 7+) proving the device's keystore, its
// boot state and the app's package and signer to Google's roots.
type KeyAttestation struct {
	// Mode is off (no chain sent), optional (sent when the device can, checked
	// when sent) or required (refused without a valid chain).
	Mode KeyAttestationMode `json:"mode"`
	// MinSecurityLevel is the least keystore security level accepted:
	// software, tee or strongbox.
	MinSecurityLevel string `json:"minSecurityLevel,omitempty"`
	// RequireVerifiedBoot demands verified boot state "verified" and a
	// locked bootloader. A nil value after Load never happens (default true).
	RequireVerifiedBoot *bool `json:"requireVerifiedBoot,omitempty"`
}

// KeyAttestationMode is off, optional or required (also App Attest's mode).
type KeyAttestationMode string

// Key attestation modes.
const (
	KeyAttestationOff      KeyAttestationMode = "off"
	KeyAttestationOptional KeyAttestationMode = "optional"
	KeyAttestationRequired KeyAttestationMode = "required"
)

// HasAttestation reports whether the Fusion Set names an attestation
// service.
func (fs *FusionSet) HasAttestation() bool { return fs.Attestation.Endpoint != "" }

// TTL returns the token lifetime.
func (a Attestation) TTL() time.Duration {
	d, err := time.ParseDuration(a.TokenTTL)
	if err != nil {
		return DefaultTokenTTL
	}
	return d
}

// Threat is the configuration of one threat.
type Threat struct {
	// Mode is off, detect or defend.
	Mode Mode `json:"mode"`
	// Message is shown to the user when the threat is defended.
	Message string `json:"message,omitempty"`
	// Score is the threat's weight in the running score, 0–100.
	Score int `json:"score"`
}

// ThreatEvents is the "threatEvents" object.
type ThreatEvents struct {
	// Enabled sends Threat-Events to the app (default true).
	Enabled bool `json:"enabled"`
	// FailSafeEnforce enforces a detected threat anyway when the app has
	// not acted on its event within FailSafeAfter.
	FailSafeEnforce bool `json:"failSafeEnforce"`
	// FailSafeAfter is the fail-safe delay as written ("30s"); see Delay.
	FailSafeAfter string `json:"failSafeAfter,omitempty"`
	// ExitOnDefend exits the app after the user has seen the message of a
	// defended threat.
	ExitOnDefend bool `json:"exitOnDefend"`
}

// Delay returns the fail-safe enforcement delay.
func (t ThreatEvents) Delay() time.Duration {
	d, err := time.ParseDuration(t.FailSafeAfter)
	if err != nil {
		return DefaultFailSafeAfter
	}
	return d
}

// SecretRef is a secret reference (env:NAME, file:PATH, stdin, or a
// literal). It prints literals as "<literal>", so a password written in
// the Fusion Set never reaches a log, an error or JSON output.
type SecretRef string

// IsLiteral reports whether the reference is the secret itself.
func (r SecretRef) IsLiteral() bool {
	s := string(r)
	return s != "" && !strings.HasPrefix(s, "env:") && !strings.HasPrefix(s, "file:") && s != "stdin"
}

// String returns the reference, or "<literal>" for a literal secret.
func (r SecretRef) String() string {
	if r.IsLiteral() {
		return "<literal>"
	}
	return string(r)
}

// GoString is String, for %#v.
func (r SecretRef) GoString() string { return fmt.Sprintf("%q", r.String()) }

// MarshalJSON writes String().
func (r SecretRef) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// String summarises the Fusion Set on one line (never with the password).
func (fs FusionSet) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q v%d; threats", fs.FusionSetID, fs.Name, fs.Version)
	for _, id := range ThreatIDs() {
		fmt.Fprintf(&b, " %s=%s", id, fs.Threats[id].Mode)
	}
	if fs.MTLS.Identity.Attested() {
		fmt.Fprintf(&b, "; identity %s", fs.MTLS.Identity)
		if len(fs.IssuerCAs) > 0 {
			fmt.Fprintf(&b, ", issuer CA %s", fs.IssuerCAs[0].Subject)
		}
	}
	if c := fs.ClientCertificate(); c != nil {
		fmt.Fprintf(&b, "; client cert %s, expires %s", c.Subject, c.NotAfter.UTC().Format(time.DateOnly))
	}
	return b.String()
}

// GoString is String, for %#v.
func (fs FusionSet) GoString() string { return "fusionset.FusionSet{" + fs.String() + "}" }

// ClientCertificate returns the client identity's leaf certificate, or nil.
func (fs *FusionSet) ClientCertificate() *x509.Certificate {
	if fs.ClientIdentity == nil {
		return nil
	}
	return fs.ClientIdentity.Certificate
}

// Canonical returns the document as written (comments removed) in canonical
// form: object keys sorted, no insignificant whitespace, strings and numbers
// written as RFC 8785 (JCS) does. It is what reports hash; reformatting the
// file or editing its comments does not change it. It holds a password
// written as a literal in the file: hash it, do not print it.
func (fs *FusionSet) Canonical() []byte { return bytes.Clone(fs.canonical) }

// SHA256 returns the lowercase hex SHA-256 digest of Canonical.
func (fs *FusionSet) SHA256() string {
	sum := sha256.Sum256(fs.canonical)
	return hex.EncodeToString(sum[:])
}

// LoadOptions are the outside world Load reads besides files.
type LoadOptions struct {
	// LookupEnv resolves env:NAME password references; nil means
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Stdin is read for a "stdin" password reference; nil means no stdin.
	Stdin io.Reader
	// Now is the clock certificates are checked against; nil means
	// time.Now.
	Now func() time.Time
}

func (o LoadOptions) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Load reads and validates the Fusion Set at path. File references in it
// are relative to path's directory. On any problem it returns a
// *ValidationError listing all of them; if one is a credential failure
// (wrong PKCS#12 password, unresolvable password reference) the error
// also matches *keys.CredentialError with errors.As.
func Load(path string, opts LoadOptions) (*FusionSet, error) {
	data, err := readCapped(path, maxFileLen)
	if err != nil {
		return nil, &ValidationError{File: path, Problems: []Problem{{Message: fileError(path, err)}}}
	}
	return Parse(data, path, filepath.Dir(path), opts)
}

// Parse is Load for a document already in memory: name is used in
// messages, dir resolves relative file references.
func Parse(data []byte, name, dir string, opts LoadOptions) (*FusionSet, error) {
	ps := &problems{raw: data}
	clean := stripComments(data)
	doc, ok := decode(ps, clean)
	if !ok {
		return nil, ps.err(name)
	}
	ix, err := jsonpos.Build(clean)
	if err != nil {
		if errors.Is(err, jsonpos.ErrTooDeep) {
			ps.add("", "nested more than %d levels deep", jsonpos.MaxDepth)
			return nil, ps.err(name)
		}
		return nil, fmt.Errorf("fusionset: %s: indexing a valid document: %w", name, err)
	}
	ps.ix = ix
	for _, d := range ix.Dups {
		ps.addKey(d.Ptr, "duplicate field: the same key appears earlier in this object")
	}
	if err := schemaProblems(ps, doc); err != nil {
		return nil, err
	}
	fs := &FusionSet{File: name}
	// The schema has reported every value of the wrong type; Unmarshal
	// skips those and fills the rest, which the checks below need.
	_ = json.Unmarshal(clean, fs)
	check(ps, fs, doc, dir, opts)
	if err := ps.err(name); err != nil {
		return nil, err
	}
	fs.canonical = jcs.Canonical(doc)
	fs.Warnings = sorted(ps.warnings)
	return fs, nil
}

// decode parses the comment-free document, recording a syntax error with
// its position.
func decode(ps *problems, clean []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		off, ok := jsonpos.SyntaxOffset(clean, err)
		if !ok {
			off = 0
		}
		if len(bytes.TrimSpace(clean)) == 0 {
			off = 0
		}
		p := Problem{off: off, Message: "invalid JSON: " + syntaxMessage(err)}
		p.Line, p.Col = jsonpos.LineCol(ps.raw, off)
		ps.errs = append(ps.errs, p)
		return nil, false
	}
	off := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		for off < len(clean) && strings.ContainsRune(" \t\r\n", rune(clean[off])) {
			off++
		}
		p := Problem{off: off, Message: "invalid JSON: data after the end of the document"}
		p.Line, p.Col = jsonpos.LineCol(ps.raw, off)
		ps.errs = append(ps.errs, p)
		return nil, false
	}
	return doc, true
}

func syntaxMessage(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of file"
	}
	return err.Error()
}

// readCapped reads the file at path if it holds at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	data, err := readlimit.File(path, limit)
	if errors.Is(err, readlimit.ErrTooLarge) {
		return nil, fmt.Errorf("larger than %d KiB", limit>>10)
	}
	return data, err
}

// fileError describes a failure to read the file at path, without Go's
// "open PATH:" prefix.
func fileError(path string, err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("cannot read %s: %v", path, err)
}
