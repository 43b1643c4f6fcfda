package keys

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
)

// oidJKSKeyProtector is Sun's proprietary JKS private-key protection
// (SHA-1 key stream), the only one JKS files written by keytool use.
var oidJKSKeyProtector = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 42, 2, 17, 1, 1}

// jksEntry is one entry found by walkJKS.
type jksEntry struct {
	alias string
	key   bool   // private-key entry (tag 1), else trusted certificate (tag 2)
	prot  []byte // protected (encrypted) private key, for key entries
}

// FORMAT: JKS (sun.security.provider.JavaKeyStore), all integers big-endian:
//
//	u32 magic 0xFEEDFEED, u32 version (1 or 2), u32 entry count
//	entry: u32 tag (1 = private key, 2 = trusted certificate),
//	       u16 len + modified-UTF-8 alias, u64 creation time (ms)
//	  tag 1: u32 len + EncryptedPrivateKeyInfo (OID 1.3.6.1.4.1.42.2.17.1.1),
//	         u32 certificate count, certificates
//	  tag 2: one certificate
//	certificate: [version 2: u16 len + type, "X.509"] u32 len + DER
//	20-byte SHA-1 over UTF-16BE(password) || "Mighty Aphrodite" || all bytes above
//
// walkJKS checks that every length fits in the input before the keystore-go
// library allocates anything from it, and returns the entries.
func walkJKS(data []byte) ([]jksEntry, error) {
	off := 0
	fail := func(msg string) error {
		return &FormatError{Format: "jks", Offset: int64(off), Msg: msg}
	}
	need := func(n int) bool { return n >= 0 && len(data)-20-off >= n }
	u16 := func() (int, bool) {
		if !need(2) {
			return 0, false
		}
		v := binary.BigEndian.Uint16(data[off:])
		off += 2
		return int(v), true
	}
	u32 := func() (int, bool) {
		if !need(4) {
			return 0, false
		}
		v := binary.BigEndian.Uint32(data[off:])
		off += 4
		if v > 1<<30 {
			return -1, true
		}
		return int(v), true
	}
	bytesN := func(n int) ([]byte, bool) {
		if !need(n) {
			return nil, false
		}
		b := data[off : off+n]
		off += n
		return b, true
	}
	const truncated = "truncated or length beyond the end of the keystore"
	cert := func(version int) error {
		if version == 2 {
			n, ok := u16()
			if !ok {
				return fail(truncated)
			}
			typ, ok := bytesN(n)
			if !ok {
				return fail(truncated)
			}
			if t := string(typ); t != "X.509" && t != "X509" { // Java accepts both names
				return fail(fmt.Sprintf("certificate type %q, want X.509", typ))
			}
		}
		n, ok := u32()
		if !ok {
			return fail(truncated)
		}
		if _, ok := bytesN(n); !ok {
			return fail(truncated)
		}
		return nil
	}

	if len(data) < 12+20 {
		return nil, fail("too short for a JKS keystore")
	}
	off = 4 // magic checked by detect
	version, _ := u32()
	if version != 1 && version != 2 {
		off -= 4
		return nil, fail(fmt.Sprintf("unsupported JKS version %d", version))
	}
	count, _ := u32()
	if count < 0 || count > (len(data)-32)/14 { // an entry takes at least 14 bytes
		off -= 4
		return nil, fail("entry count larger than the keystore can hold")
	}
	entries := make([]jksEntry, 0, count)
	for i := 0; i < count; i++ {
		tag, ok := u32()
		if !ok {
			return nil, fail(truncated)
		}
		n, ok := u16()
		if !ok {
			return nil, fail(truncated)
		}
		alias, ok := bytesN(n)
		if !ok {
			return nil, fail(truncated)
		}
		if _, ok := bytesN(8); !ok { // creation time
			return nil, fail(truncated)
		}
		e := jksEntry{alias: string(alias)}
		switch tag {
		case 1:
			e.key = true
			n, ok := u32()
			if !ok {
				return nil, fail(truncated)
			}
			if e.prot, ok = bytesN(n); !ok {
				return nil, fail(truncated)
			}
			nc, ok := u32()
			if !ok || nc < 0 || !need(nc*4) {
				return nil, fail(truncated)
			}
			for j := 0; j < nc; j++ {
				if err := cert(version); err != nil {
					return nil, err
				}
			}
		case 2:
			if err := cert(version); err != nil {
				return nil, err
			}
		default:
			off -= 4 + 2 + len(alias) + 8
			return nil, fail(fmt.Sprintf("unknown entry tag %d", tag))
		}
		entries = append(entries, e)
	}
	if off != len(data)-20 {
		return nil, fail(fmt.Sprintf("%d bytes after the last entry, want the 20-byte digest", len(data)-off))
	}
	return entries, nil
}

// jksPassword encodes a password as Java does for JKS: one UTF-16BE code
// unit per char.
func jksPassword(p []byte) []byte {
	units := utf16.Encode([]rune(string(p)))
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

// jksIntegrityOK checks the keystore's trailing SHA-1 with the store password.
func jksIntegrityOK(data, storePass []byte) bool {
	h := sha1.New()
	h.Write(jksPassword(storePass))
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(data[:len(data)-20])
	return subtle.ConstantTimeCompare(h.Sum(nil), data[len(data)-20:]) == 1
}

// libPassword converts a password for keystore-go, which widens each byte
// to a UTF-16 unit: correct only for characters up to U+00FF (Latin-1).
func libPassword(p []byte) ([]byte, bool) {
	r := []rune(string(p))
	out := make([]byte, len(r))
	for i, c := range r {
		if c > 0xFF {
			return nil, false
		}
		out[i] = byte(c)
	}
	return out, true
}

func parseJKS(data []byte, src string, storePass []byte, alias string, keyPass []byte) (*Signer, error) {
	entries, err := walkJKS(data)
	if err != nil {
		return nil, formatErr(src, "malformed JKS keystore", err)
	}
	if !jksIntegrityOK(data, storePass) {
		return nil, badPassword(src, "store password, or the keystore was altered")
	}
	keyPassDefaulted := len(keyPass) == 0
	if keyPassDefaulted {
		keyPass = storePass
	}
	libStore, ok1 := libPassword(storePass)
	libKey, ok2 := libPassword(keyPass)
	if !ok1 || !ok2 {
		return nil, formatErr(src, "JKS passwords with characters beyond U+00FF are not supported; convert the keystore to PKCS#12 with keytool -importkeystore", nil)
	}

	var keyAliases []string
	var chosen *jksEntry
	for i := range entries {
		e := &entries[i]
		if !e.key {
			continue
		}
		keyAliases = append(keyAliases, e.alias)
		if alias != "" && strings.EqualFold(e.alias, alias) {
			chosen = e
		}
	}
	sort.Strings(keyAliases)
	switch {
	case alias == "" && len(keyAliases) == 1:
		for i := range entries {
			if entries[i].key {
				chosen = &entries[i]
			}
		}
	case alias == "" && len(keyAliases) == 0:
		return nil, formatErr(src, "the keystore holds no private-key entry", nil)
	case alias == "":
		return nil, aliasErr(src, "", keyAliases, "")
	case chosen == nil:
		note := ""
		for _, e := range entries {
			if strings.EqualFold(e.alias, alias) {
				note = "it is a trusted-certificate entry, with no private key"
			}
		}
		return nil, aliasErr(src, alias, keyAliases, note)
	}

	var prot struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	if rest, err := asn1.Unmarshal(chosen.prot, &prot); err != nil || len(rest) != 0 {
		return nil, formatErr(src, fmt.Sprintf("alias %q: malformed protected key", chosen.alias), err)
	}
	if !prot.Algorithm.Algorithm.Equal(oidJKSKeyProtector) {
		return nil, formatErr(src, fmt.Sprintf("alias %q: key protection %s is not JKS's; convert the keystore to PKCS#12", chosen.alias, prot.Algorithm.Algorithm), nil)
	}
	if len(prot.Data) < 2*sha1.Size+1 {
		return nil, formatErr(src, fmt.Sprintf("alias %q: protected key too short", chosen.alias), nil)
	}

	ks := keystore.New(keystore.WithCaseExactAliases())
	if err := ks.Load(bytes.NewReader(data), libStore); err != nil {
		// Our own walk and digest check passed, so this is a structure the
		// library rejects; its messages carry no password.
		return nil, formatErr(src, "JKS keystore", err)
	}
	entry, err := ks.GetPrivateKeyEntry(chosen.alias, libKey)
	if err != nil {
		detail := fmt.Sprintf("key password of alias %q", chosen.alias)
		if keyPassDefaulted {
			detail += "; it differs from the store password: give the key password"
		}
		return nil, badPassword(src, detail)
	}
	defer clear(entry.PrivateKey)
	if err := checkPKCS8Algorithm(src, entry.PrivateKey); err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
	if err != nil {
		return nil, formatErr(src, fmt.Sprintf("alias %q: private key", chosen.alias), err)
	}
	if len(entry.CertificateChain) == 0 {
		return nil, formatErr(src, fmt.Sprintf("alias %q has no certificate", chosen.alias), nil)
	}
	certs := make([]*x509.Certificate, 0, len(entry.CertificateChain))
	for i, c := range entry.CertificateChain {
		cert, err := x509.ParseCertificate(c.Content)
		if err != nil {
			return nil, formatErr(src, fmt.Sprintf("alias %q: certificate %d", chosen.alias, i+1), err)
		}
		certs = append(certs, cert)
	}
	s, err := assemble(src, "jks", chosen.alias, key, certs)
	if err != nil {
		return nil, err
	}
	// keytool stores the chain leaf first; keep its order when it is the
	// key's certificate, else the assembled one.
	if certs[0] == s.Certificate {
		s.Chain = certs
	}
	return s, nil
}
