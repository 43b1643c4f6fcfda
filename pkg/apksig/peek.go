package apksig

import (
	"crypto/x509"
	"path"
	"sort"
	"strings"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// maxV1BlockSize caps a JAR signature block read by Peek.
const maxV1BlockSize = 1 << 20

// Peek reports which schemes are present and the certificates of their
// signers, read from the signature blocks without checking any digest or
// signature. It is cheap (no pass over the entries) and meant for display:
// inspect, and telling the user which key signed an input. Verified is
// always false in its result; use Verify to know whether the APK verifies.
func Peek(z *zipx.Reader) *Result {
	res := &Result{}
	pairs, err := readSigningBlock(z)
	if err != nil {
		res.Errors = append(res.Errors, issue("SIGNING_BLOCK_MALFORMED", "%v", err))
	}
	for _, b := range []struct {
		id   uint32
		into *SchemeResult
	}{{blockIDV2, &res.V2}, {blockIDV3, &res.V3}, {blockIDV31, &res.V31}} {
		value := findPair(pairs, b.id)
		if value == nil {
			continue
		}
		b.into.Present = true
		signers, _ := items(lpSeqValue(value))
		for _, raw := range signers {
			if c := peekSchemeCert(raw); c != nil {
				b.into.Signers = append(b.into.Signers, newSignerInfo(c))
			}
		}
	}
	res.V1.Present = v1Present(z)
	if res.V1.Present {
		var blocks []string
		for _, e := range z.Entries {
			upper := strings.ToUpper(e.Name)
			if path.Dir(e.Name) == "META-INF" && (strings.HasSuffix(upper, ".RSA") || strings.HasSuffix(upper, ".EC") || strings.HasSuffix(upper, ".DSA")) {
				blocks = append(blocks, e.Name)
			}
		}
		sort.Strings(blocks)
		for _, name := range blocks {
			der, err := z.Entry(name).ReadAll(maxV1BlockSize)
			if err != nil {
				continue
			}
			p7, err := parsePKCS7(der)
			if err != nil || len(p7.signers) == 0 {
				continue
			}
			if c := p7.findCert(p7.signers[0].SID); c != nil {
				res.V1.Signers = append(res.V1.Signers, newSignerInfo(c))
			}
		}
	}
	return res
}

// peekSchemeCert returns the first certificate of a v2/v3 signer record
// (signed data starts with digests, then certificates, in both schemes).
func peekSchemeCert(raw []byte) *x509.Certificate {
	r := &lpReader{b: raw}
	sd := &lpReader{b: r.next()}
	sd.next() // digests
	certs, err := items(sd.next())
	if r.err != nil || sd.err != nil || err != nil || len(certs) == 0 {
		return nil
	}
	c, err := parseCertificate(certs[0])
	if err != nil {
		return nil
	}
	return c
}
