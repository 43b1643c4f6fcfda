package fusionset

import (
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
	switch {
	case now.Before(leaf.NotBefore):
		ps.add(ptr, "client certificate %q is not valid before %s", subject, describeTime(leaf.NotBefore))
	case now.After(leaf.NotAfter):
		ps.add(ptr, "client certificate %q expired on %s", subject, describeTime(leaf.NotAfter))
	case leaf.NotAfter.Sub(now) < expirySoon:
		ps.warn(ptr, "client certificate %q expires in %s (%s): apps fused with it stop connecting then", subject, days(leaf.NotAfter.Sub(now)), describeTime(leaf.NotAfter))
	}
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
	path := resolveRef(dir, fs.MTLS.PinServerCA)
	data, err := readCapped(path, maxPEMLen)
	if err != nil {
		ps.add(ptr, "%s", fileError(path, err))
		return
	}
	certs, msg := parseCerts(data)
	if msg != "" {
		ps.add(ptr, "%s: %s", path, msg)
		return
	}
	n := len(ps.errs)
	for _, c := range certs {
		subject := c.Subject.String()
		switch {
		case now.Before(c.NotBefore):
			ps.add(ptr, "pinned CA %q is not valid before %s", subject, describeTime(c.NotBefore))
		case now.After(c.NotAfter):
			ps.add(ptr, "pinned CA %q expired on %s", subject, describeTime(c.NotAfter))
		case c.NotAfter.Sub(now) < expirySoon:
			ps.warn(ptr, "pinned CA %q expires in %s (%s)", subject, days(c.NotAfter.Sub(now)), describeTime(c.NotAfter))
		}
		if !c.IsCA {
			ps.warn(ptr, "pinned certificate %q is not a CA certificate: connections fail when the server's certificate is renewed", subject)
		}
	}
	if len(ps.errs) == n {
		fs.PinnedCAs = certs
	}
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
