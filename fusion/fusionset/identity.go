package fusionset

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/trustfuse/trustfuse/internal/jsonpos"
	"github.com/trustfuse/trustfuse/pkg/keys"
)

// maxPEMLen caps the pinned-CA file: a bundle of a few CAs is a few KiB.
const maxPEMLen = 1 << 20

// expirySoon is how close to expiry a certificate draws a warning.
const expirySoon = 30 * 24 * time.Hour

// loadIdentity decodes mtls.clientCertificate with mtls.password and checks
// that its leaf can authenticate a TLS client. A wrong password, or a
// password reference that cannot be resolved, is a credential problem;
// everything else about the file is an invalid Fusion Set.
func loadIdentity(ps *problems, fs *FusionSet, dir string, opts LoadOptions, now time.Time) {
	certPtr := jsonpos.Pointer("mtls", "clientCertificate")
	passPtr := jsonpos.Pointer("mtls", "password")
	if fs.MTLS.ClientCertificate == "" || ps.blocked(certPtr) || ps.blocked(passPtr) {
		return
	}
	path := resolveRef(dir, fs.MTLS.ClientCertificate)
	if _, err := os.Stat(path); err != nil {
		ps.add(certPtr, "%s", fileError(path, err))
		return
	}
	pass, warn, err := keys.ResolveSecret(secretRef(dir, fs.MTLS.Password), opts.LookupEnv, opts.Stdin)
	if err != nil {
		ps.credential(passPtr, err)
		return
	}
	defer clear(pass)
	switch {
	case warn == keys.LiteralWarning:
		ps.warn(passPtr, "the password is written in the Fusion Set: anyone who can read the file can use the client identity; use env:NAME or file:PATH")
	case warn != "":
		ps.warn(passPtr, "%s", warn)
	}
	id, err := keys.Load(path, pass, "", nil)
	switch {
	case errors.Is(err, keys.ErrBadPassword):
		ps.credential(passPtr, err)
		return
	case err != nil && strings.Contains(err.Error(), "private key missing"):
		ps.add(certPtr, "%s holds no private key (made with openssl pkcs12 -nokeys?): the app needs the key to authenticate", path)
		return
	case err != nil:
		ps.add(certPtr, "%s", err.Error())
		return
	case id.Format != "pkcs12":
		ps.add(certPtr, "%s is a %s file: clientCertificate must be PKCS#12 (openssl pkcs12 -export -inkey key.pem -in cert.pem -out client.p12)", path, strings.ToUpper(id.Format))
		return
	}
	if checkClientCert(ps, certPtr, id.Certificate, now) {
		fs.ClientIdentity = id
	}
}

// checkClientCert records what keeps leaf from authenticating a TLS client
// now and reports whether it can.
//
// Extended key usage: the certificate must list clientAuth, or have no
// extended key usage extension at all — RFC 5280 §4.2.1.12 reads absence as
// "any purpose", and OpenSSL (hence nginx's ssl_verify_client), Go's
// crypto/tls and Java all accept such a certificate. anyExtendedKeyUsage
// alone is refused, as OpenSSL's sslclient purpose check refuses it.
// Key usage, when present, must include digitalSignature: the client signs
// the handshake (CertificateVerify), always so in TLS 1.3.
func checkClientCert(ps *problems, ptr string, leaf *x509.Certificate, now time.Time) bool {
	n := len(ps.errs)
	subject := leaf.Subject.String()
	checkValidity(ps, ptr, "client certificate", leaf, now, ": apps fused with it stop connecting then")
	if (len(leaf.ExtKeyUsage) > 0 || len(leaf.UnknownExtKeyUsage) > 0) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		ps.add(ptr, "client certificate %q has extended key usage %s but not clientAuth: TLS servers refuse it for client authentication", subject, ekuNames(leaf))
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		ps.add(ptr, "client certificate %q has key usage without digitalSignature: a TLS client must sign the handshake", subject)
	}
	return len(ps.errs) == n
}

// ekuNames lists a certificate's extended key usages by name.
func ekuNames(c *x509.Certificate) string {
	names := make([]string, 0, len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage))
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageAny:
			names = append(names, "anyExtendedKeyUsage")
		case x509.ExtKeyUsageServerAuth:
			names = append(names, "serverAuth")
		case x509.ExtKeyUsageCodeSigning:
			names = append(names, "codeSigning")
		case x509.ExtKeyUsageEmailProtection:
			names = append(names, "emailProtection")
		case x509.ExtKeyUsageTimeStamping:
			names = append(names, "timeStamping")
		case x509.ExtKeyUsageOCSPSigning:
			names = append(names, "OCSPSigning")
		default:
			names = append(names, fmt.Sprintf("#%d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		names = append(names, oid.String())
	}
	return strings.Join(names, ", ")
}

// loadPins reads mtls.pinServerCA: PEM certificates (or one DER
// certificate), each valid now. A private key in the file is refused.
func loadPins(ps *problems, fs *FusionSet, dir string, now time.Time) {
	ptr := jsonpos.Pointer("mtls", "pinServerCA")
	if fs.MTLS.PinServerCA == "" || ps.blocked(ptr) {
		return
	}
	certs := loadCertFile(ps, ptr, resolveRef(dir, fs.MTLS.PinServerCA), "the pin file must hold only certificates")
	if certs == nil {
		return
	}
	n := len(ps.errs)
	for _, c := range certs {
		checkValidity(ps, ptr, "pinned CA", c, now, "")
		if !c.IsCA {
			ps.warn(ptr, "pinned certificate %q is not a CA certificate: connections fail when the server's certificate is renewed", c.Subject.String())
		}
	}
	if len(ps.errs) == n {
		fs.PinnedCAs = certs
	}
}

// checkValidity records c (named what) as an error when it is not valid
// at now, or as a warning ending in soon when it expires within
// expirySoon.
func checkValidity(ps *problems, ptr, what string, c *x509.Certificate, now time.Time, soon string) {
	subject := c.Subject.String()
	switch {
	case now.Before(c.NotBefore):
		ps.add(ptr, "%s %q is not valid before %s", what, subject, describeTime(c.NotBefore))
	case now.After(c.NotAfter):
		ps.add(ptr, "%s %q expired on %s", what, subject, describeTime(c.NotAfter))
	case c.NotAfter.Sub(now) < expirySoon:
		ps.warn(ptr, "%s %q expires in %s (%s)%s", what, subject, days(c.NotAfter.Sub(now)), describeTime(c.NotAfter), soon)
	}
}

// loadCertFile reads the certificates of the file at path, PEM (or one
// DER certificate), recording a problem at ptr and returning nil when it
// cannot; onKey says why a private key in the file is refused.
func loadCertFile(ps *problems, ptr, path, onKey string) []*x509.Certificate {
	data, err := readCapped(path, maxPEMLen)
	if err != nil {
		ps.add(ptr, "%s", fileError(path, err))
		return nil
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		ps.add(ptr, "%s: holds a private key: %s", path, onKey)
		return nil
	}
	certs, msg := parseCerts(data)
	if msg != "" {
		ps.add(ptr, "%s: %s", path, msg)
		return nil
	}
	return certs
}

// parseCerts reads PEM CERTIFICATE blocks, or one DER certificate.
func parseCerts(data []byte) ([]*x509.Certificate, string) {
	var certs []*x509.Certificate
	rest := data
	sawPEM := false
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sawPEM = true
		if b.Type != "CERTIFICATE" {
			if strings.Contains(b.Type, "PRIVATE KEY") {
				return nil, "holds a private key: the pin file must hold only certificates"
			}
			return nil, fmt.Sprintf("unexpected PEM block %q: want CERTIFICATE", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Sprintf("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if !sawPEM {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, "neither PEM certificates nor a DER certificate"
		}
		certs = append(certs, c)
	}
	return certs, ""
}

// checkIdentityMode checks the fields mtls.identity asks for or rules out:
// attested mode ships no private key (no clientCertificate or password),
// embedded modes need the client certificate, attested modes need the
// issuer CA and an attestation service, and the attestedCertificate values
// are in range.
func checkIdentityMode(ps *problems, fs *FusionSet, doc any) {
	modePtr := jsonpos.Pointer("mtls", "identity")
	if ps.blocked(modePtr) || !has(doc, "mtls") || ps.blocked("/mtls") {
		return
	}
	m := &fs.MTLS
	mode := m.Identity
	if mode == "" {
		mode = IdentityEmbedded
	}
	if mode == IdentityAttested {
		const remove = "attested mode ships no private key: remove mtls.clientCertificate/password, set mtls.issuerCA"
		if has(doc, "mtls", "clientCertificate") {
			ps.add(jsonpos.Pointer("mtls", "clientCertificate"), "%s", remove)
		}
		if has(doc, "mtls", "password") {
			ps.add(jsonpos.Pointer("mtls", "password"), "%s", remove)
		}
	} else if !has(doc, "mtls", "clientCertificate") {
		hint := ""
		if mode == IdentityEmbedded {
			hint = `, or set "identity": "attested" to ship no private key (devices then get their certificate from serve)`
		}
		ps.add(jsonpos.Pointer("mtls", "clientCertificate"), "missing required field %q: identity %q seals a client certificate into the app%s", "clientCertificate", mode, hint)
	}
	if !mode.Attested() {
		if has(doc, "mtls", "issuerCA") {
			ps.warn(jsonpos.Pointer("mtls", "issuerCA"), "issuerCA is used only when identity is attested or attested-or-embedded; identity is %s", mode)
		}
		if has(doc, "mtls", "attestedCertificate") {
			ps.warn(jsonpos.Pointer("mtls", "attestedCertificate"), "attestedCertificate is used only when identity is attested or attested-or-embedded; identity is %s", mode)
		}
		return
	}
	if !has(doc, "mtls", "issuerCA") {
		ps.add(jsonpos.Pointer("mtls", "issuerCA"), "missing required field %q: identity %q needs the CA certificate(s) serve issues device certificates under (PEM, public part only)", "issuerCA", mode)
	}
	if !has(doc, "attestation", "endpoint") && !ps.blocked("/attestation") {
		ps.add(jsonpos.Pointer("attestation", "endpoint"), "missing required field %q: identity %q gets device certificates from the attestation service (<endpoint>/v1/certificate)", "endpoint", mode)
	}
	ac := m.AttestedCertificate
	if ptr := jsonpos.Pointer("mtls", "attestedCertificate", "validity"); ac.Validity != "" && !ps.blocked(ptr) {
		checkDuration(ps, ptr, ac.Validity, MinAttestedValidity, MaxAttestedValidity)
	}
	if ptr := jsonpos.Pointer("mtls", "attestedCertificate", "minSecurityLevel"); ac.MinSecurityLevel == "strongbox" && ac.StrongBox != "prefer" &&
		!ps.blocked(ptr) && !ps.blocked(jsonpos.Pointer("mtls", "attestedCertificate", "strongBox")) {
		ps.add(ptr, `strongbox needs "strongBox": "prefer": otherwise the device makes its key in the TEE and serve refuses it`)
	}
}

// loadIssuerCA reads mtls.issuerCA: PEM certificates (or one DER
// certificate), each a CA (basic constraints CA:true) that may sign
// certificates, valid now, usable for TLS client authentication. A private
// key in the file is refused: the file is sealed into every copy of the app.
func loadIssuerCA(ps *problems, fs *FusionSet, dir string, now time.Time) {
	ptr := jsonpos.Pointer("mtls", "issuerCA")
	if fs.MTLS.IssuerCA == "" || ps.blocked(ptr) || !fs.MTLS.Identity.Attested() {
		return
	}
	certs := loadCertFile(ps, ptr, resolveRef(dir, fs.MTLS.IssuerCA),
		"issuerCA must hold only the CA certificate(s), which are sealed into every copy of the app; the CA key belongs to serve (certificateIssuer.key)")
	if certs == nil {
		return
	}
	n := len(ps.errs)
	for _, c := range certs {
		subject := c.Subject.String()
		switch {
		case !c.BasicConstraintsValid || !c.IsCA:
			ps.add(ptr, "issuer CA %q is not a CA certificate (basic constraints CA:true): give the CA that serve's certificateIssuer signs device certificates with", subject)
		case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
			ps.add(ptr, "issuer CA %q has key usage without keyCertSign: it cannot sign device certificates", subject)
		case (len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny):
			ps.add(ptr, "issuer CA %q has extended key usage %s, which excludes clientAuth: TLS servers refuse the certificates it issues", subject, ekuNames(c))
		default:
			checkValidity(ps, ptr, "issuer CA", c, now, ": device certificates end then")
		}
	}
	if len(ps.errs) == n {
		fs.IssuerCAs = certs
	}
}
