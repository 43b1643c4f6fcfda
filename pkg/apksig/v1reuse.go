package apksig

import (
	"strings"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// Digest reuse: re-signing an APK with a JAR (v1) signature needs the
// digest of every entry's uncompressed content, so every deflated entry
// would be inflated and hashed; on a large APK that is most of the time.
// When the input is itself signed with APK Signature Scheme v2 or v3, and
// that signature verifies, its META-INF/MANIFEST.MF already states those
// digests, and they are taken from it for every entry copied unchanged
// (the very *zipx.Entry of the verified archive, whose stored bytes the
// writer copies raw).
//
// Why this is safe. The v2/v3 content digest covers every byte of the
// entries, MANIFEST.MF's included, so nobody but the input's signer (who
// built the APK) can have changed either after signing: a corrupted or
// tampered input fails verification, and then every entry is inflated as
// before. The signer could have written a manifest that lies about an entry
// (a digest other than its content's). The output then states the same lie
// under our v1 signature, and a device before Android 7.0 (API 24), which
// checks only v1, refuses to install it (the digest does not match the
// content); from API 24 the v2/v3 signatures we make over the bytes
// actually written are checked and v1 is ignored. The lie can therefore
// only make the output fail on old devices, never make any device accept
// content other than the bytes we sign; an input that also had a v1
// signature over that manifest already failed there the same way. Detecting it
// would mean inflating everything, which is what reuse avoids; `apksigner
// verify --min-sdk-version` below 24 reports it (see the test).
//
// Conditions, each falling back to inflating: the input has a v2 or v3
// signature and the whole verification for API 24 and later passes; its
// MANIFEST.MF has exactly one section for the entry, with a digest in the
// algorithm the output's minSdkVersion needs (SHA-1 below API 18, else
// SHA-256) that decodes to the algorithm's length; the entry is copied
// unchanged under its own name. A v1-only or unsigned input, a manifest in
// another algorithm, and a new or replaced entry are digested from content.

// v1KnownDigests returns the digests in alg that src's JAR manifest states
// for its entries, by entry, under the conditions above; nil when src does
// not qualify. Entries of src not in the result are digested from content.
func v1KnownDigests(src *zipx.Reader, alg v1Alg) map[*zipx.Entry][]byte {
	mfEntry := src.Entry(v1ManifestName)
	if _, signed := src.SigningBlock(); !signed || mfEntry == nil {
		return nil
	}
	mf, err := mfEntry.ReadAll(v1MaxMetaFile)
	if err != nil {
		return nil
	}
	attr := alg.attr + "-Digest"
	digests := map[string][]byte{}
	sections := map[string]int{}
	secs := v1ParseSections(mf)
	if len(secs) < 2 {
		return nil
	}
	for _, sec := range secs[1:] {
		name, ok := sec.name()
		if !ok {
			continue
		}
		sections[name]++
		if v, ok := sec.get(attr); ok {
			if d := v1DecodeDigest(v); len(d) == alg.hash.Size() {
				digests[name] = d
			}
		}
	}
	known := map[*zipx.Entry][]byte{}
	for name, d := range digests {
		e := src.Entry(name)
		if sections[name] != 1 || e == nil || strings.HasSuffix(name, "/") || isV1SignatureFile(name) {
			continue
		}
		known[e] = d
	}
	if len(known) == 0 {
		return nil
	}
	// Last, as it hashes the whole file: only when there is something to gain.
	res, err := Verify(src, VerifyOptions{MinSDK: sdkN})
	if err != nil || !res.Verified || !(res.V2.Verified || res.V3.Verified) {
		return nil
	}
	return known
}
