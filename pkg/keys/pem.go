package keys

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
)

var (
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448         = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidDSA           = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
)

// LoadPEM loads an identity from PEM text: keyPEM holds one private key
// ("PRIVATE KEY" = PKCS#8, "RSA PRIVATE KEY" = PKCS#1, "EC PRIVATE KEY" =
// SEC1, unencrypted) and certPEM the certificates ("CERTIFICATE" blocks, in
// any order). Both may be the same bytes, and either may carry both kinds
// of block. Other block types (e.g. "EC PARAMETERS") are ignored.
func LoadPEM(keyPEM, certPEM []byte) (*Signer, error) {
	s, err := loadPEM(keyPEM, certPEM, "PEM")
	if err != nil {
		return nil, err
	}
	s.Source = "PEM"
	return s, nil
}

func loadPEM(keyPEM, certPEM []byte, src string) (*Signer, error) {
	a, err := pemBlocks(keyPEM, src)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(keyPEM, certPEM) {
		b, err := pemBlocks(certPEM, src)
		if err != nil {
			return nil, err
		}
		a.keys = append(a.keys, b.keys...)
		for _, c := range b.certs {
			if !containsCert(a.certs, c) {
				a.certs = append(a.certs, c)
			}
		}
	}
	switch {
	case len(a.keys) == 0:
		return nil, formatErr(src, "no private key block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", nil)
	case len(a.keys) > 1:
		return nil, formatErr(src, fmt.Sprintf("%d private key blocks; give exactly one", len(a.keys)), nil)
	case len(a.certs) == 0:
		return nil, formatErr(src, "no CERTIFICATE block", nil)
	}
	return assemble(src, "pem", "", a.keys[0], a.certs)
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

type pemContents struct {
	keys  []any
	certs []*x509.Certificate
}

// pemBlocks decodes the key and certificate blocks of PEM text.
func pemBlocks(data []byte, src string) (pemContents, error) {
	var out pemContents
	rest := data
	for {
		start := len(data) - len(rest)
		if i := bytes.Index(rest, []byte("-----BEGIN ")); i >= 0 {
			start += i
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		bad := func(msg string, cause error) error {
			return formatErr(src, block.Type+" block", &FormatError{Format: "pem", Offset: int64(start), Msg: msg + errSuffix(cause)})
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return out, bad("bad certificate", err)
			}
			out.certs = append(out.certs, c)
		case "PRIVATE KEY":
			if err := checkPKCS8Algorithm(src, block.Bytes); err != nil {
				return out, err
			}
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return out, bad("bad PKCS#8 private key", err)
			}
			out.keys = append(out.keys, k)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if _, ok := block.Headers["DEK-Info"]; ok {
				return out, bad("encrypted PEM keys are not supported (decrypt it with openssl, or use a PKCS#12 file)", nil)
			}
			var k any
			var err error
			if block.Type == "RSA PRIVATE KEY" {
				k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
			} else {
				k, err = x509.ParseECPrivateKey(block.Bytes)
			}
			if err != nil {
				return out, bad("bad private key", err)
			}
			out.keys = append(out.keys, k)
		case "ENCRYPTED PRIVATE KEY":
			return out, bad("encrypted PKCS#8 keys are not supported (decrypt with: openssl pkcs8 -in key.pem -out plain.pem, or use a PKCS#12 file)", nil)
		}
	}
	return out, nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// checkPKCS8Algorithm reports keys of algorithms this package does not sign
// with (Ed25519, Ed448, DSA, …) as ErrUnsupportedKey, before x509 rejects
// some of them as unparsable.
func checkPKCS8Algorithm(src string, der []byte) error {
	var info struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return nil // let x509 report the malformed key
	}
	alg := info.Algorithm.Algorithm
	switch {
	case alg.Equal(oidRSAEncryption), alg.Equal(oidECPublicKey):
		return nil
	case alg.Equal(oidEd25519):
		return unsupported(src, "Ed25519 key; use RSA 2048–4096 or ECDSA P-256")
	case alg.Equal(oidEd448):
		return unsupported(src, "Ed448 key; use RSA 2048–4096 or ECDSA P-256")
	case alg.Equal(oidDSA):
		return unsupported(src, "DSA key; use RSA 2048–4096 or ECDSA P-256")
	default:
		return unsupported(src, "key algorithm "+alg.String()+"; use RSA 2048–4096 or ECDSA P-256")
	}
}
