package keys

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// OIDs of RFC 7292 (PKCS #12), RFC 8018 (PKCS #5) and RFC 9579 (PBMAC1).
var (
	oidData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidKeyBag         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidFriendlyName   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidPBMAC1         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidMACSHA1        = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidMACSHA256      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidMACSHA512      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// errUnknownPKCS8Alg is how crypto/x509 (through go-pkcs12, which flattens
// errors to strings) reports a key of an algorithm it cannot parse (Ed448,
// DSA): the only way to tell that apart from a malformed file.
const errUnknownPKCS8Alg = "PKCS#8 wrapping contained private key with unknown algorithm"

// FORMAT: PKCS #12 (RFC 7292 §4):
//
//	PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
//	authSafe: ContentInfo of type data whose OCTET STRING holds
//	  AuthenticatedSafe ::= SEQUENCE OF ContentInfo  -- data (plain) or encryptedData
//	SafeContents ::= SEQUENCE OF SafeBag
//	SafeBag ::= SEQUENCE { bagId OID, bagValue [0] EXPLICIT ANY, bagAttributes SET OF PKCS12Attribute OPTIONAL }
//	MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
//
// keytool and OpenSSL put the (individually encrypted) key bags in a plain
// data ContentInfo and the certificate bags in an encryptedData one, so the
// key aliases (friendlyName attributes) can be listed without a password.

type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  `asn1:"tag:0,explicit"`
	Attributes []p12Attribute `asn1:"set,optional"`
}

type p12Attribute struct {
	ID     asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type p12DigestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type p12MacData struct {
	Mac        p12DigestInfo
	Salt       []byte
	Iterations int `asn1:"optional,default:1"`
}

// p12Layout is what can be read of a PFX without the password.
type p12Layout struct {
	pfx      p12PFX
	safe     []asn1.RawValue // the AuthenticatedSafe's ContentInfos
	keyNames []string        // friendlyName of each plain key bag ("" if none)
	mac      *p12MacData     // nil if the PFX has no MAC
	// iterations are the key-derivation iteration counts of the MAC and of
	// every encryption whose parameters are visible without the password.
	iterations []int
}

// looksLikePFX reports whether data is a DER PFX with version 3.
func looksLikePFX(data []byte) bool {
	var pfx p12PFX
	rest, err := asn1.Unmarshal(data, &pfx)
	return err == nil && len(rest) == 0 && pfx.Version == 3
}

// readOctets returns the OCTET STRING inside an [0] EXPLICIT content (the
// RawValue holds the [0] element; its Bytes are the OCTET STRING element).
func readOctets(content asn1.RawValue) ([]byte, error) {
	var octets []byte
	rest, err := asn1.Unmarshal(content.Bytes, &octets)
	if err == nil && len(rest) != 0 {
		err = errors.New("trailing data after content")
	}
	return octets, err
}

// readP12Layout parses the unencrypted structure of a PFX.
func readP12Layout(data []byte) (*p12Layout, error) {
	var l p12Layout
	if _, err := asn1.Unmarshal(data, &l.pfx); err != nil {
		return nil, err
	}
	if !l.pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("authSafe content type %s: only password-integrity (data) PFX files are supported", l.pfx.AuthSafe.ContentType)
	}
	safeDER, err := readOctets(l.pfx.AuthSafe.Content)
	if err != nil {
		return nil, fmt.Errorf("authSafe: %w", err)
	}
	if _, err := asn1.Unmarshal(safeDER, &l.safe); err != nil {
		return nil, fmt.Errorf("AuthenticatedSafe: %w", err)
	}
	if len(l.pfx.MacData.FullBytes) > 0 {
		l.mac = new(p12MacData)
		if _, err := asn1.Unmarshal(l.pfx.MacData.FullBytes, l.mac); err != nil {
			return nil, fmt.Errorf("MacData: %w", err)
		}
	}
	if l.mac != nil {
		if l.mac.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) { // its own PBKDF2 count; macData's is ignored
			if n, ok, err := pbkdf2Iterations(l.mac.Mac.Algorithm.Parameters.FullBytes); err != nil {
				return nil, fmt.Errorf("MacData: %w", err)
			} else if ok {
				l.iterations = append(l.iterations, n)
			}
		} else {
			l.iterations = append(l.iterations, l.mac.Iterations)
		}
	}
	for i, raw := range l.safe {
		n, ok, err := encryptedDataIterations(raw)
		if err != nil {
			return nil, fmt.Errorf("AuthenticatedSafe item %d: %w", i, err)
		}
		if ok {
			l.iterations = append(l.iterations, n)
		}
		bags, err := plainBags(raw)
		if err != nil {
			return nil, fmt.Errorf("AuthenticatedSafe item %d: %w", i, err)
		}
		for _, b := range bags {
			if b.bag.ID.Equal(oidShroudedKeyBag) {
				var epki struct {
					Algorithm pkix.AlgorithmIdentifier
					Data      []byte
				}
				if _, err := asn1.Unmarshal(b.bag.Value.Bytes, &epki); err != nil {
					return nil, fmt.Errorf("shrouded key bag: %w", err)
				}
				n, ok, err := pbeIterations(epki.Algorithm)
				if err != nil {
					return nil, fmt.Errorf("shrouded key bag: %w", err)
				}
				if ok {
					l.iterations = append(l.iterations, n)
				}
			}
			if b.bag.ID.Equal(oidKeyBag) || b.bag.ID.Equal(oidShroudedKeyBag) {
				l.keyNames = append(l.keyNames, friendlyName(b.bag))
			}
		}
	}
	for _, n := range l.iterations {
		if n < 1 || n > maxIterations {
			return nil, fmt.Errorf("iteration count %d outside 1..%d", n, maxIterations)
		}
	}
	return &l, nil
}

// maxIterations caps the password-based key derivation work a file may ask
// for: OpenSSL writes 2048 iterations, keytool 10000, OWASP suggests 600000
// for PBKDF2-SHA256. A file asking for billions would hang the loader.
const maxIterations = 2_000_000

// pbeIterations returns the iteration count of a password-based encryption
// AlgorithmIdentifier: PBES2 (RFC 8018) or a PKCS#12 PBE scheme (RFC 7292
// Appendix C: SEQUENCE { salt OCTET STRING, iterations INTEGER }). ok is
// false when the parameters have no such count (go-pkcs12 then decides).
func pbeIterations(alg pkix.AlgorithmIdentifier) (n int, ok bool, err error) {
	if alg.Algorithm.Equal(oidPBES2) {
		return pbkdf2Iterations(alg.Parameters.FullBytes)
	}
	var p struct {
		Salt       []byte
		Iterations int
	}
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil {
		return 0, false, nil
	}
	return p.Iterations, true, nil
}

// pbkdf2Iterations returns the PBKDF2 iteration count inside PBES2 or
// PBMAC1 parameters (both start with keyDerivationFunc AlgorithmIdentifier).
func pbkdf2Iterations(params []byte) (n int, ok bool, err error) {
	var p struct {
		KDF  pkix.AlgorithmIdentifier
		Rest asn1.RawValue
	}
	if _, err := asn1.Unmarshal(params, &p); err != nil || !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return 0, false, nil
	}
	var k struct {
		Salt       asn1.RawValue
		Iterations int
	}
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &k); err != nil {
		return 0, false, fmt.Errorf("PBKDF2 parameters: %w", err)
	}
	return k.Iterations, true, nil
}

// encryptedDataIterations returns the iteration count of an encryptedData
// ContentInfo's content-encryption algorithm (which is not encrypted).
func encryptedDataIterations(ciRaw asn1.RawValue) (n int, ok bool, err error) {
	var ci p12ContentInfo
	if _, err := asn1.Unmarshal(ciRaw.FullBytes, &ci); err != nil || !ci.ContentType.Equal(oidEncryptedData) {
		return 0, false, nil
	}
	var ed struct {
		Version int
		Info    struct {
			ContentType asn1.ObjectIdentifier
			Algorithm   pkix.AlgorithmIdentifier
			Rest        asn1.RawValue `asn1:"optional,tag:0"`
		}
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
		return 0, false, fmt.Errorf("encryptedData: %w", err)
	}
	return pbeIterations(ed.Info.Algorithm)
}

type rawBag struct {
	raw asn1.RawValue
	bag p12SafeBag
}

// plainBags returns the safe bags of a plain data ContentInfo (nil for an
// encryptedData one, whose bags need the password).
func plainBags(ciRaw asn1.RawValue) ([]rawBag, error) {
	var ci p12ContentInfo
	if _, err := asn1.Unmarshal(ciRaw.FullBytes, &ci); err != nil {
		return nil, err
	}
	if !ci.ContentType.Equal(oidData) {
		return nil, nil
	}
	octets, err := readOctets(ci.Content)
	if err != nil {
		return nil, err
	}
	var raws []asn1.RawValue
	if _, err := asn1.Unmarshal(octets, &raws); err != nil {
		return nil, err
	}
	out := make([]rawBag, 0, len(raws))
	for _, r := range raws {
		var b p12SafeBag
		if _, err := asn1.Unmarshal(r.FullBytes, &b); err != nil {
			return nil, err
		}
		out = append(out, rawBag{raw: r, bag: b})
	}
	return out, nil
}

// friendlyName decodes a bag's friendlyName (a BMPString) or returns "".
func friendlyName(b p12SafeBag) string {
	for _, a := range b.Attributes {
		if !a.ID.Equal(oidFriendlyName) {
			continue
		}
		var v asn1.RawValue
		if _, err := asn1.Unmarshal(a.Values.Bytes, &v); err != nil || v.Tag != 30 || len(v.Bytes)%2 != 0 {
			return ""
		}
		units := make([]uint16, len(v.Bytes)/2)
		for i := range units {
			units[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return strings.TrimRight(string(utf16.Decode(units)), "\x00")
	}
	return ""
}

func parsePKCS12(data []byte, src string, pass []byte, alias string) (*Signer, error) {
	layout, err := readP12Layout(data)
	if err != nil {
		return nil, formatErr(src, "malformed PKCS#12", err)
	}
	key, leaf, cas, err := gopkcs12.DecodeChain(data, string(pass))
	switch {
	case err == nil:
		chosen, aerr := checkSingleAlias(src, alias, layout.keyNames)
		if aerr != nil {
			return nil, aerr
		}
		return assemble(src, "pkcs12", chosen, key, append([]*x509.Certificate{leaf}, cas...))
	case isP12PasswordErr(err):
		return nil, badPassword(src, "")
	case len(layout.keyNames) >= 2:
		return parseMultiKeyPKCS12(data, src, pass, alias, layout, err)
	case strings.Contains(err.Error(), errUnknownPKCS8Alg):
		return nil, unsupported(src, "key algorithm (not RSA or ECDSA); use RSA 2048–4096 or ECDSA P-256")
	default:
		return nil, formatErr(src, "PKCS#12", err)
	}
}

func isP12PasswordErr(err error) bool {
	return errors.Is(err, gopkcs12.ErrIncorrectPassword) || errors.Is(err, gopkcs12.ErrDecryption)
}

// checkSingleAlias checks a requested alias against a file with one key.
func checkSingleAlias(src, alias string, names []string) (string, error) {
	name := ""
	if len(names) == 1 {
		name = names[0]
	}
	switch {
	case alias == "":
		return name, nil
	case name != "" && strings.EqualFold(name, alias):
		return name, nil
	case len(names) == 1 && name == "":
		return "", aliasErr(src, alias, nil, "its only private key has no alias (friendlyName): give no alias")
	case len(names) == 0:
		return "", aliasErr(src, alias, nil, "its key aliases are encrypted and cannot be listed: give no alias")
	default:
		return "", aliasErr(src, alias, names, "")
	}
}

// parseMultiKeyPKCS12 selects one key of a PFX holding several (a keytool
// PKCS12 store with several key entries), which go-pkcs12's DecodeChain
// refuses. DecodeChain has already checked the original MAC with the
// password: it verifies the MAC before looking at any bag, and a wrong
// password would have failed there (the MAC algorithm is checked below to
// be one it supports). The PFX is then rebuilt in memory with only the
// chosen key bag (encrypted bags copied unchanged) under a fresh PBMAC1
// (RFC 9579) MAC, and decoded again; a wrong password still fails the
// decryption of the key and certificates.
func parseMultiKeyPKCS12(data []byte, src string, pass []byte, alias string, l *p12Layout, firstErr error) (*Signer, error) {
	if l.mac == nil {
		return nil, formatErr(src, "PKCS#12 with several keys and no MAC", firstErr)
	}
	switch a := l.mac.Mac.Algorithm.Algorithm; {
	case a.Equal(oidMACSHA1), a.Equal(oidMACSHA256), a.Equal(oidMACSHA512), a.Equal(oidPBMAC1):
	default:
		return nil, formatErr(src, "PKCS#12 MAC algorithm "+a.String(), firstErr)
	}
	var named []string
	index := -1
	for i, n := range l.keyNames {
		if n == "" {
			continue
		}
		named = append(named, n)
		if alias != "" && strings.EqualFold(n, alias) {
			if index >= 0 {
				return nil, formatErr(src, fmt.Sprintf("alias %q names several keys", alias), nil)
			}
			index = i
		}
	}
	if index < 0 {
		note := ""
		if len(named) < len(l.keyNames) {
			note = fmt.Sprintf("%d key(s) have no alias and cannot be chosen", len(l.keyNames)-len(named))
		}
		return nil, aliasErr(src, alias, named, note)
	}
	repacked, err := repackPKCS12(l, index, pass)
	if err != nil {
		return nil, formatErr(src, "PKCS#12 with several keys", err)
	}
	key, leaf, cas, err := gopkcs12.DecodeChain(repacked, string(pass))
	if err != nil {
		if isP12PasswordErr(err) {
			return nil, badPassword(src, "")
		}
		return nil, formatErr(src, fmt.Sprintf("PKCS#12 alias %q", l.keyNames[index]), err)
	}
	return assemble(src, "pkcs12", l.keyNames[index], key, append([]*x509.Certificate{leaf}, cas...))
}

// repackPKCS12 rebuilds the PFX keeping only the keep-th plain key bag.
func repackPKCS12(l *p12Layout, keep int, pass []byte) ([]byte, error) {
	safe := make([]asn1.RawValue, 0, len(l.safe))
	k := 0
	for _, ciRaw := range l.safe {
		bags, err := plainBags(ciRaw)
		if err != nil {
			return nil, err
		}
		if bags == nil { // encryptedData: copy as is
			safe = append(safe, ciRaw)
			continue
		}
		kept := make([]asn1.RawValue, 0, len(bags))
		for _, b := range bags {
			if b.bag.ID.Equal(oidKeyBag) || b.bag.ID.Equal(oidShroudedKeyBag) {
				k++
				if k-1 != keep {
					continue
				}
			}
			kept = append(kept, b.raw)
		}
		ci, err := dataContentInfo(kept)
		if err != nil {
			return nil, err
		}
		safe = append(safe, ci)
	}
	safeDER, err := asn1.Marshal(safe)
	if err != nil {
		return nil, err
	}
	authSafe, err := octetContent(safeDER)
	if err != nil {
		return nil, err
	}
	mac, err := pbmac1(safeDER, pass)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		Version  int
		AuthSafe p12ContentInfo
		MacData  p12MacData
	}{3, p12ContentInfo{ContentType: oidData, Content: authSafe}, mac})
}

// dataContentInfo wraps safe bags in a plain data ContentInfo.
func dataContentInfo(bags []asn1.RawValue) (asn1.RawValue, error) {
	der, err := asn1.Marshal(bags)
	if err != nil {
		return asn1.RawValue{}, err
	}
	content, err := octetContent(der)
	if err != nil {
		return asn1.RawValue{}, err
	}
	ci, err := asn1.Marshal(p12ContentInfo{ContentType: oidData, Content: content})
	return asn1.RawValue{FullBytes: ci}, err
}

// octetContent builds the [0] EXPLICIT OCTET STRING content of a
// ContentInfo. (encoding/asn1 writes a RawValue as given, ignoring the
// field's explicit tag, so the [0] is spelled out here.)
func octetContent(b []byte) (asn1.RawValue, error) {
	der, err := asn1.Marshal(b)
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}, err
}

// pbmac1 computes a PBMAC1 MacData (PBKDF2-HMAC-SHA256 → HMAC-SHA256, RFC
// 9579) over msg. The repacked PFX never leaves memory, so a fixed salt and
// one iteration are enough: the MAC only has to satisfy the decoder.
func pbmac1(msg, pass []byte) (p12MacData, error) {
	salt := []byte("trustfuse-repack")
	hmacSHA256 := pkix.AlgorithmIdentifier{Algorithm: oidHMACWithSHA256, Parameters: asn1.NullRawValue}
	kdfParams, err := asn1.Marshal(struct {
		Salt       []byte
		Iterations int
		KeyLength  int
		PRF        pkix.AlgorithmIdentifier
	}{salt, 1, 32, hmacSHA256})
	if err != nil {
		return p12MacData{}, err
	}
	params, err := asn1.Marshal(struct {
		KDF pkix.AlgorithmIdentifier
		MAC pkix.AlgorithmIdentifier
	}{pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}}, hmacSHA256})
	if err != nil {
		return p12MacData{}, err
	}
	key, err := pbkdf2.Key(sha256.New, string(pass), salt, 1, 32)
	if err != nil {
		return p12MacData{}, err
	}
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return p12MacData{
		Mac: p12DigestInfo{
			Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: params}},
			Digest:    h.Sum(nil),
		},
		Salt:       salt,
		Iterations: 1,
	}, nil
}
