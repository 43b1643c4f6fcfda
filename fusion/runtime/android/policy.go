package androidrt

import (
	"bytes"
	"cmp"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/trustfuse/trustfuse/pkg/attest"
)

// Threat names a class of threat the runtime checks for.
type Threat string

// The threats the runtime knows. Each has a mode in the policy.
const (
	ThreatTamper   Threat = "tamper"   // signer digest or dex digests differ from the fused build
	ThreatDebugger Threat = "debugger" // JDWP debugger or ptrace tracer attached
	ThreatRoot     Threat = "root"     // su / Magisk paths, test-keys build
	ThreatEmulator Threat = "emulator" // emulator build properties
	ThreatHooking  Threat = "hooking"  // Frida / Xposed / Substrate traces
	ThreatMITM     Threat = "mitm"     // server chain of a protected host not issued by a pinned CA
)

// Threats lists every threat in a fixed order.
var Threats = []Threat{ThreatTamper, ThreatDebugger, ThreatRoot, ThreatEmulator, ThreatHooking, ThreatMITM}

// Threat modes (DESIGN §4).
const (
	ModeOff    = "off"    // not checked
	ModeDetect = "detect" // Threat-Event only; the app decides
	ModeDefend = "defend" // withhold the client certificate, refuse protected hosts, optionally exit
)

// ThreatPolicy is the runtime's configuration for one threat.
type ThreatPolicy struct {
	Mode    string // ModeOff, ModeDetect or ModeDefend
	Message string // shown to the user on defend; sent in the Threat-Event
	Score   int    // added to the running total score when the threat fires
}

// Policy is what the runtime reads from PolicyAsset. It is bound to the
// vault (its SHA-256 is the vault's associated data), so an edited policy
// leaves the client certificate sealed.
type Policy struct {
	FusionSetID, Package string
	Threats              map[Threat]ThreatPolicy
	// EventsEnabled sends Threat-Events (broadcast and listener).
	EventsEnabled bool
	// FailSafeEnforce enforces a detect-mode threat as defend when the app
	// has not acknowledged its event within FailSafeAfter.
	FailSafeEnforce bool
	// ExitOnDefend kills the process when a defend-mode threat fires.
	ExitOnDefend  bool
	FailSafeAfter time.Duration
	// SignerDigests are hex SHA-256 digests of the allowed signer
	// certificates (the output signer and Play App Signing certificates).
	SignerDigests []string
	// DexDigests maps each classes*.dex of the output, except the runtime's
	// own, to its hex SHA-256.
	DexDigests map[string]string
	// MTLSHosts are the protected hosts: the client certificate is meant
	// for them, and their server chains must end at a pinned CA.
	MTLSHosts []string
	// PinnedCASPKI are hex SHA-256 digests of the pinned CAs'
	// SubjectPublicKeyInfo; PinnedCAs are those CAs' DER certificates. The
	// runtime trusts exactly the PinnedCAs whose SPKI digest is listed.
	PinnedCASPKI []string
	PinnedCAs    [][]byte
	// AttestEndpoint is the base URL of `trustfuse serve`; TokenHeader the
	// header carrying its token; TokenTTL the token lifetime.
	AttestEndpoint, TokenHeader string
	TokenTTL                    time.Duration
	BuildDate                   string // RFC 3339
	FusedAppToken               string // opaque hex id of this fused build
	// AttestMeasurement is the release measurement's RFC 8785 canonical
	// JSON (docs/attestation.md), exactly the bytes the attestation proof
	// covers; the runtime sends its fields and proves possession of the
	// vault's attestation key over its SHA-256. Written only when set.
	AttestMeasurement string
	// AttestRuntimeDex names the runtime's own classesN.dex entry; the
	// runtime re-measures it (and AndroidManifest.xml) from the installed
	// package file before attesting. Written only when set.
	AttestRuntimeDex string
	// AttestSkipManifest tells the runtime not to re-measure
	// AndroidManifest.xml: the measurement's manifestDigest is empty,
	// because the installed manifest is not the one fuse wrote (an App
	// Bundle's: Play re-encodes it to binary XML and edits it). Written
	// (attest.skipManifest=true) only when set.
	AttestSkipManifest bool
	// KeyAttestation is the Fusion Set's attestation.keyAttestation.mode,
	// one of the protocol's modes: attest.KeyAttestationOff (also for ""),
	// attest.KeyAttestationOptional or attest.KeyAttestationRequired. When
	// not off, the runtime (API 24+) adds an Android Key Attestation chain
	// whose challenge is the nonce.
	KeyAttestation string
	// AppAttest is the Fusion Set's attestation.appAttest.mode for an iOS
	// release (the iOS runtime reads this policy too): when optional or
	// required, the runtime adds an App Attest attestation object whose
	// clientDataHash is SHA-256 of the raw nonce. Written only when set and
	// not off, so Android policies are unchanged (the Android runtime reads
	// keys by name and ignores this one).
	AppAttest string
	// Identity is the Fusion Set's mtls.identity: IdentityEmbedded (also
	// for ""), IdentityAttested or IdentityAttestedOrEmbedded. In the
	// attested modes the runtime gets its client certificate from serve
	// for a key it generates in AndroidKeyStore (docs/runtime.md).
	Identity string
	// StrongBox is the Fusion Set's mtls.attestedCertificate.strongBox,
	// StrongBoxPrefer or StrongBoxOff (also for ""); written only in the
	// attested modes.
	StrongBox string
}

// Client identity modes (Policy.Identity, the Fusion Set's mtls.identity).
const (
	IdentityEmbedded           = "embedded"             // the vault's key and certificate
	IdentityAttested           = "attested"             // an AndroidKeyStore key certified by serve; no key in the package
	IdentityAttestedOrEmbedded = "attested-or-embedded" // attested where the device can attest, else embedded
)

// StrongBox preferences (Policy.StrongBox).
const (
	StrongBoxPrefer = "prefer" // generate the identity key in StrongBox when the device has one
	StrongBoxOff    = "off"    // TEE (or whatever AndroidKeyStore gives)
)

// Attested reports whether the policy's identity mode is one of the attested ones.
func (p *Policy) Attested() bool {
	return p.Identity == IdentityAttested || p.Identity == IdentityAttestedOrEmbedded
}

// PolicyVersion is the value of the "version" key written by Encode.
const PolicyVersion = 1

// ErrPolicy reports a policy the runtime would misread.
var ErrPolicy = errors.New("androidrt: invalid policy")

// Encode writes the policy as java.util.Properties text: one key=value line
// per key, keys sorted, values escaped as Properties.store escapes them
// (ISO-8859-1 with \uXXXX for everything else), no date comment, so the same
// policy always gives the same bytes.
//
// FORMAT (keys; lists are comma-separated, digests lowercase hex):
//
//	version             1
//	fusionSetId         Fusion Set id
//	package             package name
//	threat.<t>.mode     off | detect | defend   (t in Threats; absent = off)
//	threat.<t>.message  user-facing message
//	threat.<t>.score    decimal integer
//	events              true | false
//	failSafe.enforce    true | false
//	failSafe.afterMs    decimal milliseconds
//	exitOnDefend        true | false
//	signers             hex SHA-256 of allowed signer certificates
//	dex                 name:hexSHA256 pairs, sorted by name
//	mtls.hosts          protected host names, lowercase
//	pin.spki            hex SHA-256 of pinned CA SubjectPublicKeyInfo
//	pin.cas             hex DER of pinned CA certificates
//	attest.endpoint     base URL;  attest.tokenHeader  header name
//	attest.tokenTtlMs   decimal milliseconds
//	attest.measurement  RFC 8785 JSON of the release measurement (only when set)
//	attest.runtimeDex   entry name of the runtime dex (only when set)
//	attest.skipManifest true: manifestDigest is not re-measured (only when set)
//	attest.keyAttestation  off | optional | required ("" is written as off)
//	attest.appAttest    optional | required (iOS; absent = off)
//	mtls.identity       embedded | attested | attested-or-embedded ("" is written as embedded;
//	                    the runtime reads an absent key as embedded)
//	mtls.strongBox      prefer | off (attested modes only; "" is written as off)
//	buildDate           RFC 3339;  fusedAppToken  hex
func (p *Policy) Encode() []byte {
	kv := map[string]string{
		"version":               strconv.Itoa(PolicyVersion),
		"fusionSetId":           p.FusionSetID,
		"package":               p.Package,
		"events":                strconv.FormatBool(p.EventsEnabled),
		"failSafe.enforce":      strconv.FormatBool(p.FailSafeEnforce),
		"failSafe.afterMs":      strconv.FormatInt(p.FailSafeAfter.Milliseconds(), 10),
		"exitOnDefend":          strconv.FormatBool(p.ExitOnDefend),
		"signers":               joinLower(p.SignerDigests),
		"mtls.hosts":            joinLower(p.MTLSHosts),
		"pin.spki":              joinLower(p.PinnedCASPKI),
		"attest.endpoint":       p.AttestEndpoint,
		"attest.tokenHeader":    p.TokenHeader,
		"attest.tokenTtlMs":     strconv.FormatInt(p.TokenTTL.Milliseconds(), 10),
		"attest.keyAttestation": cmp.Or(p.KeyAttestation, attest.KeyAttestationOff),
		"buildDate":             p.BuildDate,
		"fusedAppToken":         p.FusedAppToken,
	}
	if p.AttestMeasurement != "" {
		kv["attest.measurement"] = p.AttestMeasurement
	}
	if p.AttestRuntimeDex != "" {
		kv["attest.runtimeDex"] = p.AttestRuntimeDex
	}
	if p.AttestSkipManifest {
		kv["attest.skipManifest"] = "true"
	}
	if p.AppAttest != "" && p.AppAttest != attest.KeyAttestationOff {
		kv["attest.appAttest"] = p.AppAttest
	}
	kv["mtls.identity"] = cmp.Or(p.Identity, IdentityEmbedded)
	if p.Attested() {
		kv["mtls.strongBox"] = cmp.Or(p.StrongBox, StrongBoxOff)
	}
	for t, tp := range p.Threats {
		kv["threat."+string(t)+".mode"] = tp.Mode
		kv["threat."+string(t)+".message"] = tp.Message
		kv["threat."+string(t)+".score"] = strconv.Itoa(tp.Score)
	}
	var dex []string
	for _, name := range slices.Sorted(maps.Keys(p.DexDigests)) {
		dex = append(dex, name+":"+strings.ToLower(p.DexDigests[name]))
	}
	kv["dex"] = strings.Join(dex, ",")
	cas := make([]string, len(p.PinnedCAs))
	for i, der := range p.PinnedCAs {
		cas[i] = hex.EncodeToString(der)
	}
	kv["pin.cas"] = strings.Join(cas, ",")

	var b bytes.Buffer
	b.WriteString("# trustfuse runtime policy\n")
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		writeEscaped(&b, k, true)
		b.WriteByte('=')
		writeEscaped(&b, kv[k], false)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func joinLower(s []string) string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return strings.Join(out, ",")
}

// writeEscaped escapes like java.util.Properties.saveConvert(…, escUnicode=true):
// keys escape every space, values only a leading one.
func writeEscaped(b *bytes.Buffer, s string, key bool) {
	for i, r := range []rune(s) {
		switch {
		case r == ' ':
			if key || i == 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(' ')
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\\' || r == '=' || r == ':' || r == '#' || r == '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			for _, u := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(b, `\u%04X`, u)
			}
		default:
			b.WriteRune(r)
		}
	}
}

// Validate reports values the runtime would misread or ignore: unknown
// threats or modes, malformed digests, list items containing the list
// separator, pinned CAs that do not parse or whose SPKI digest is not pinned.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrPolicy}, args...)...))
	}
	for t, tp := range p.Threats {
		if !slices.Contains(Threats, t) {
			bad("unknown threat %q", t)
		}
		if tp.Mode != ModeOff && tp.Mode != ModeDetect && tp.Mode != ModeDefend {
			bad("threat %s: unknown mode %q", t, tp.Mode)
		}
	}
	isDigest := func(s string) bool {
		b, err := hex.DecodeString(s)
		return err == nil && len(b) == 32
	}
	for _, d := range p.SignerDigests {
		if !isDigest(d) {
			bad("signer digest %q is not hex SHA-256", d)
		}
	}
	if len(p.SignerDigests) == 0 {
		bad("no signer digest (the tamper check would always fire)")
	}
	for name, d := range p.DexDigests {
		if strings.ContainsAny(name, ",:") || !isDigest(d) {
			bad("dex digest %q: %q", name, d)
		}
	}
	for _, h := range p.MTLSHosts {
		if h == "" || strings.ContainsAny(h, ", ") {
			bad("mTLS host %q", h)
		}
	}
	spki := map[string]bool{}
	for _, d := range p.PinnedCASPKI {
		if !isDigest(d) {
			bad("pinned SPKI digest %q is not hex SHA-256", d)
		}
		spki[strings.ToLower(d)] = true
	}
	for i, der := range p.PinnedCAs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			bad("pinned CA %d: %v", i, err)
			continue
		}
		if !spki[SPKIDigest(c)] {
			bad("pinned CA %d (%s): SPKI digest not in PinnedCASPKI", i, c.Subject)
		}
	}
	switch p.KeyAttestation {
	case "", attest.KeyAttestationOff, attest.KeyAttestationOptional, attest.KeyAttestationRequired:
	default:
		bad("unknown key attestation mode %q", p.KeyAttestation)
	}
	switch p.AppAttest {
	case "", attest.KeyAttestationOff, attest.KeyAttestationOptional, attest.KeyAttestationRequired:
	default:
		bad("unknown App Attest mode %q", p.AppAttest)
	}
	switch p.Identity {
	case "", IdentityEmbedded:
		if p.StrongBox != "" {
			bad("strongBox %q set for the embedded identity (attested modes only)", p.StrongBox)
		}
	case IdentityAttested, IdentityAttestedOrEmbedded:
		if p.AttestEndpoint == "" {
			bad("identity %s needs an attestation endpoint (the certificate comes from serve)", p.Identity)
		}
	default:
		bad("unknown identity mode %q", p.Identity)
	}
	switch p.StrongBox {
	case "", StrongBoxPrefer, StrongBoxOff:
	default:
		bad("unknown strongBox preference %q", p.StrongBox)
	}
	if p.FailSafeEnforce && p.FailSafeAfter < 0 {
		bad("negative fail-safe delay")
	}
	return errors.Join(errs...)
}

// SPKIDigest returns the hex SHA-256 of c's SubjectPublicKeyInfo, the form of
// Policy.PinnedCASPKI.
func SPKIDigest(c *x509.Certificate) string {
	return sha256Hex(c.RawSubjectPublicKeyInfo)
}
