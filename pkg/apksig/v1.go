package apksig

import (
	"bytes"
	"crypto"
	_ "crypto/md5"  // MD5 digests of old JAR signatures (verification only)
	_ "crypto/sha1" // SHA-1 digests of JAR entries (minSdkVersion < 18)
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/trustfuse/trustfuse/pkg/zipx"
)

// FORMAT: JAR File Specification, "JAR Manifest" and "Signed JAR File"
// (https://docs.oracle.com/en/java/javase/17/docs/specs/jar/jar.html), as
// Android reads it (Google's apksig V1SchemeSigner / V1SchemeVerifier).
//
// Both files are sections of "Name: value" lines ending in CRLF; a section
// ends with an empty line. No line is longer than 72 bytes: a longer header
// continues on following lines that start with one space (71 bytes of value
// each). The first section is the main section.
//
//	META-INF/MANIFEST.MF                 META-INF/CERT.SF
//	Manifest-Version: 1.0                Signature-Version: 1.0
//	Created-By: trustfuse 1.2.3          Created-By: trustfuse 1.2.3
//	                                     X-Android-APK-Signed: 2, 3
//	Name: classes.dex                    SHA-256-Digest-Manifest: b64(H(MANIFEST.MF))
//	SHA-256-Digest: b64(H(content))      SHA-256-Digest-Manifest-Main-Attributes: b64(H(main section))
//
//	Name: res/a.xml                      Name: classes.dex
//	SHA-256-Digest: ...                  SHA-256-Digest: b64(H(manifest section of classes.dex))
//
// A digested section includes its terminating empty line. H is SHA-256 when
// minSdkVersion >= 18, else SHA-1 (attribute prefix "SHA1"). The signature
// block META-INF/CERT.RSA (or .EC) is a detached CMS SignedData over the .SF
// bytes (pkcs7.go).

// Android API levels that change JAR signature verification.
const (
	v1SDKGingerbread = 9  // SHA-384 and SHA-512 in manifests
	v1SDKKitKat      = 19 // signed attributes verified correctly
)

// Also: sdkJellyBeanMR2 (18), from which the strongest digest wins and
// SHA-256 and ECDSA signatures are accepted, and sdkN (24), from which all
// SignerInfos are tried and the content-type attribute is checked.

const (
	v1ManifestName = "META-INF/MANIFEST.MF"
	// v1MaxMetaFile caps the bytes read for MANIFEST.MF, a .SF file or a
	// signature block (a manifest for 100,000 entries is about 10 MB).
	v1MaxMetaFile = 64 << 20
	// v1MaxSigners is the most JAR signers Android accepts.
	v1MaxSigners = 10
	// v1LineLimit is the longest manifest line in bytes, without CRLF.
	v1LineLimit = 72
)

// v1Entry is one archive entry covered by the JAR signature.
type v1Entry struct {
	Name string
	Open func() (io.ReadCloser, error) // uncompressed content
	// Digest, if set, is the content's digest in the algorithm signV1
	// uses, known without reading it (v1KnownDigests); Open is not called.
	Digest []byte
}

// v1Config selects how signV1 signs.
type v1Config struct {
	SignerName    string // base name of .SF/.RSA|.EC, e.g. "CERT"
	MinSDK        int    // SHA-256 if >= 18, else SHA-1 (as apksig); EC keys need >= 18
	AndroidSigned []int  // e.g. {2, 3} → "X-Android-APK-Signed: 2, 3"; nil omits it
	CreatedBy     string // e.g. "trustfuse 1.2.3"
}

// v1File is one generated file.
type v1File struct {
	Name string
	Data []byte
}

// v1Alg is a digest algorithm of JAR manifests and signature files.
type v1Alg struct {
	hash crypto.Hash
	name string // JCA name used in messages: "SHA-256"
	attr string // attribute prefix: "SHA-256" in "SHA-256-Digest"
}

// v1Algs lists the manifest digest algorithms strongest first, the order in
// which Android 4.3 (API 18) and later pick the one to verify.
func v1Algs() [4]v1Alg {
	return [...]v1Alg{
		{crypto.SHA512, "SHA-512", "SHA-512"},
		{crypto.SHA384, "SHA-384", "SHA-384"},
		{crypto.SHA256, "SHA-256", "SHA-256"},
		{crypto.SHA1, "SHA-1", "SHA1"},
	}
}

func v1AlgFor(h crypto.Hash) v1Alg {
	for _, a := range v1Algs() {
		if a.hash == h {
			return a
		}
	}
	panic("apksig: no JAR digest algorithm for " + h.String())
}

// v1LegacyAlg maps a name from the Digest-Algorithms attribute (how Android
// before API 18 chose the digest to check) to an algorithm and the first API
// level that accepts it.
func v1LegacyAlg(name string) (v1Alg, int, bool) {
	switch strings.ToUpper(name) {
	case "SHA", "SHA1", "SHA-1":
		return v1AlgFor(crypto.SHA1), 0, true
	case "SHA-256":
		return v1AlgFor(crypto.SHA256), 0, true
	case "SHA-384":
		return v1AlgFor(crypto.SHA384), v1SDKGingerbread, true
	case "SHA-512":
		return v1AlgFor(crypto.SHA512), v1SDKGingerbread, true
	case "MD5":
		// Only here: from API 18 Android picks the strongest of SHA-512,
		// SHA-384, SHA-256 and SHA-1, never MD5.
		return v1Alg{crypto.MD5, "MD5", "MD5"}, 0, true
	}
	return v1Alg{}, 0, false
}

// isV1SignatureFile reports whether name is a JAR-signature file to drop when
// re-signing: META-INF/MANIFEST.MF, META-INF/*.SF|.RSA|.DSA|.EC and
// META-INF/SIG-*, directly inside META-INF/, the file name compared
// case-insensitively (as apksig does).
func isV1SignatureFile(name string) bool {
	base, ok := strings.CutPrefix(name, "META-INF/")
	if !ok || base == "" || strings.Contains(base, "/") {
		return false
	}
	base = strings.ToLower(base)
	switch {
	case base == "manifest.mf", strings.HasPrefix(base, "sig-"):
		return true
	}
	for _, ext := range []string{".sf", ".rsa", ".dsa", ".ec"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	return false
}

// v1ValidSignerName reports whether name is a JAR signer name: 1 to 8 of
// A-Z, 0-9, '-' and '_' (JAR specification).
func v1ValidSignerName(name string) bool {
	if name == "" || len(name) > 8 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// signV1 digests the entries (in parallel, bounded by GOMAXPROCS) and returns
// META-INF/MANIFEST.MF, META-INF/<NAME>.SF and META-INF/<NAME>.RSA or .EC, in
// that order. Directories and JAR signature files among entries are skipped.
func signV1(entries []v1Entry, s *Signer, cfg v1Config) ([]v1File, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	name := cfg.SignerName
	if name == "" {
		name = "CERT"
	}
	if !v1ValidSignerName(name) {
		return nil, fmt.Errorf("apksig: JAR signer name %q: want 1 to 8 of A-Z, 0-9, - and _", name)
	}
	if s.isEC() && cfg.MinSDK < sdkJellyBeanMR2 {
		return nil, fmt.Errorf("%w: ECDSA JAR signatures need minSdkVersion %d or higher (have %d)",
			ErrUnsupportedKey, sdkJellyBeanMR2, cfg.MinSDK)
	}
	alg := v1SignAlg(cfg.MinSDK)
	createdBy := cfg.CreatedBy
	if createdBy == "" {
		createdBy = "trustfuse"
	}
	if strings.ContainsAny(createdBy, "\r\n\x00") {
		return nil, fmt.Errorf("apksig: Created-By %q contains a line break or NUL", createdBy)
	}

	var covered []v1Entry
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name, "/") || isV1SignatureFile(e.Name) {
			continue
		}
		// CR, LF and NUL cannot be written in a manifest (JAR specification).
		if i := strings.IndexAny(e.Name, "\r\n\x00"); i >= 0 {
			return nil, fmt.Errorf("apksig: entry name %q: character %#02x cannot be signed with JAR signing", e.Name, e.Name[i])
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("apksig: duplicate entry %q", e.Name)
		}
		seen[e.Name] = true
		covered = append(covered, e)
	}

	digests := make([][]byte, len(covered))
	err := v1Parallel(len(covered), func(i int, buf []byte) error {
		if d := covered[i].Digest; d != nil {
			digests[i] = d
			return nil
		}
		rc, err := covered[i].Open()
		if err != nil {
			return fmt.Errorf("apksig: open %q: %w", covered[i].Name, err)
		}
		defer rc.Close()
		h := alg.hash.New()
		if _, err := io.CopyBuffer(h, rc, buf); err != nil {
			return fmt.Errorf("apksig: read %q: %w", covered[i].Name, err)
		}
		digests[i] = h.Sum(nil)
		return nil
	})
	if err != nil {
		return nil, err
	}

	// MANIFEST.MF, remembering where each section lies for the .SF digests.
	var mf v1Writer
	mf.attr("Manifest-Version", "1.0")
	mf.attr("Created-By", createdBy)
	mf.end()
	mainEnd := mf.buf.Len()
	bounds := make([]int, len(covered)+1)
	bounds[0] = mainEnd
	for i, e := range covered {
		mf.attr("Name", e.Name)
		mf.attr(alg.attr+"-Digest", base64.StdEncoding.EncodeToString(digests[i]))
		mf.end()
		bounds[i+1] = mf.buf.Len()
	}
	manifest := mf.buf.Bytes()

	digestB64 := func(data []byte) string {
		h := alg.hash.New()
		h.Write(data)
		return base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	var sf v1Writer
	sf.attr("Signature-Version", "1.0")
	sf.attr("Created-By", createdBy)
	if len(cfg.AndroidSigned) > 0 {
		ids := make([]string, len(cfg.AndroidSigned))
		for i, id := range cfg.AndroidSigned {
			ids[i] = strconv.Itoa(id)
		}
		sf.attr("X-Android-APK-Signed", strings.Join(ids, ", "))
	}
	sf.attr(alg.attr+"-Digest-Manifest", digestB64(manifest))
	sf.attr(alg.attr+"-Digest-Manifest-Main-Attributes", digestB64(manifest[:mainEnd]))
	sf.end()
	for i, e := range covered {
		sf.attr("Name", e.Name)
		sf.attr(alg.attr+"-Digest", digestB64(manifest[bounds[i]:bounds[i+1]]))
		sf.end()
	}
	// Android up to 1.6 fails on a signature file whose length is a multiple
	// of 1024; apksig adds an empty line then, and so do we.
	if sf.buf.Len()%1024 == 0 {
		sf.end()
	}
	sfBytes := sf.buf.Bytes()

	block, err := pkcs7SignDetached(sfBytes, s, alg.hash)
	if err != nil {
		return nil, err
	}
	ext := ".RSA"
	if s.isEC() {
		ext = ".EC"
	}
	return []v1File{
		{Name: v1ManifestName, Data: manifest},
		{Name: "META-INF/" + name + ".SF", Data: sfBytes},
		{Name: "META-INF/" + name + ext, Data: block},
	}, nil
}

// v1SignAlg is the digest algorithm of the JAR signatures signV1 makes for
// minSDK: SHA-256 from API 18, SHA-1 below (as apksig).
func v1SignAlg(minSDK int) v1Alg {
	if minSDK >= sdkJellyBeanMR2 {
		return v1AlgFor(crypto.SHA256)
	}
	return v1AlgFor(crypto.SHA1)
}

// v1Writer writes manifest-format sections.
type v1Writer struct{ buf bytes.Buffer }

// attr writes "name: value", wrapped to 72-byte lines. Lines are cut between
// UTF-8 sequences, as Java 11+ does, so every line of valid UTF-8 input is
// valid UTF-8.
func (w *v1Writer) attr(name, value string) {
	line := name + ": " + value
	limit := v1LineLimit
	for {
		if len(line) <= limit {
			w.buf.WriteString(line)
			w.buf.WriteString("\r\n")
			return
		}
		// Back off to the start of a UTF-8 sequence (at most 3 bytes);
		// invalid UTF-8 is cut at the limit.
		cut := limit
		for cut > limit-utf8.UTFMax+1 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		if !utf8.RuneStart(line[cut]) {
			cut = limit
		}
		w.buf.WriteString(line[:cut])
		w.buf.WriteString("\r\n ")
		line = line[cut:]
		limit = v1LineLimit - 1
	}
}

// end ends a section.
func (w *v1Writer) end() { w.buf.WriteString("\r\n") }

// v1Parallel calls fn(i, buf) for i in [0, n) on up to GOMAXPROCS goroutines,
// each with its own 64 KiB buffer, and returns the first error (remaining
// work is skipped after one).
func v1Parallel(n int, fn func(i int, buf []byte) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	var (
		next   atomic.Int64
		failed atomic.Bool
		once   sync.Once
		first  error
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i, buf); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// v1Attr is one manifest attribute.
type v1Attr struct{ name, value string }

// v1Section is one section of a manifest or signature file: its byte range
// (including the terminating empty line) and attributes in order.
type v1Section struct {
	start, end int
	attrs      []v1Attr
}

// get returns the value of the first attribute called name (names compare
// case-insensitively).
func (s *v1Section) get(name string) (string, bool) {
	for _, a := range s.attrs {
		if strings.EqualFold(a.name, name) {
			return a.value, true
		}
	}
	return "", false
}

// name returns the section's Name attribute, which must come first.
func (s *v1Section) name() (string, bool) {
	if len(s.attrs) > 0 && strings.EqualFold(s.attrs[0].name, "Name") {
		return s.attrs[0].value, true
	}
	return "", false
}

// v1ParseSections splits a manifest or signature file into sections the way
// Android does: lines end in CRLF, LF or CR; a line starting with a space
// continues the previous one; empty lines separate sections (several in a
// row count as one); "name: value" splits at the first ": ", and a line
// without one is a name with an empty value. The first section is the main
// section. It never fails: malformed input gives sections a verifier rejects.
func v1ParseSections(data []byte) []v1Section {
	var (
		out     []v1Section
		cur     *v1Section
		pending []byte
	)
	flush := func() {
		if pending == nil {
			return
		}
		line := string(pending)
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			name, value = line, ""
		}
		cur.attrs = append(cur.attrs, v1Attr{name, value})
		pending = nil
	}
	for pos := 0; pos < len(data); {
		start := pos
		end := len(data)
		next := len(data)
		if i := bytes.IndexAny(data[pos:], "\r\n"); i >= 0 {
			end = pos + i
			next = end + 1
			if data[end] == '\r' && next < len(data) && data[next] == '\n' {
				next++
			}
		}
		pos = next
		line := data[start:end]
		switch {
		case len(line) == 0:
			if cur != nil {
				flush()
				cur.end = next
				out = append(out, *cur)
				cur = nil
			}
		case cur == nil:
			cur = &v1Section{start: start}
			pending = append([]byte(nil), line...)
		case line[0] == ' ':
			pending = append(pending, line[1:]...)
		default:
			flush()
			pending = append([]byte(nil), line...)
		}
	}
	if cur != nil {
		flush()
		cur.end = len(data)
		out = append(out, *cur)
	}
	return out
}

// v1Digest is an expected digest read from a manifest or signature file.
type v1Digest struct {
	alg    v1Alg
	digest []byte
}

// v1DigestsToVerify returns the digests with the given attribute suffix
// ("-Digest", "-Digest-Manifest", ...) that Android checks somewhere in
// [minSDK, maxSDK]: before API 18 the first one named by Digest-Algorithms
// (default "SHA SHA1"); from API 18 the strongest present. None found before
// API 18 means the section does not verify there, so the result is empty.
func v1DigestsToVerify(sec *v1Section, suffix string, minSDK, maxSDK int) []v1Digest {
	var out []v1Digest
	if minSDK < sdkJellyBeanMR2 {
		names, ok := sec.get("Digest-Algorithms")
		if !ok {
			names = "SHA SHA1"
		}
		for _, n := range strings.Fields(names) {
			v, ok := sec.get(n + suffix)
			if !ok {
				continue
			}
			alg, since, ok := v1LegacyAlg(n)
			if !ok || since > minSDK {
				continue
			}
			out = append(out, v1Digest{alg, v1DecodeDigest(v)})
			break
		}
		if len(out) == 0 {
			return nil
		}
	}
	if maxSDK >= sdkJellyBeanMR2 {
		for _, alg := range v1Algs() {
			v, ok := sec.get(alg.attr + suffix)
			if !ok {
				continue
			}
			d := v1DecodeDigest(v)
			dup := false
			for _, o := range out {
				if o.alg.hash == alg.hash && bytes.Equal(o.digest, d) {
					dup = true
				}
			}
			if !dup {
				out = append(out, v1Digest{alg, d})
			}
			break
		}
	}
	return out
}

// v1DecodeDigest decodes a base64 digest; invalid text gives a digest that
// matches nothing.
func v1DecodeDigest(v string) []byte {
	d, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return []byte{}
	}
	return d
}

func v1Hash(h crypto.Hash, data []byte) []byte {
	hh := h.New()
	hh.Write(data)
	return hh.Sum(nil)
}

func v1B64(d []byte) string { return base64.StdEncoding.EncodeToString(d) }

// v1Signer is one JAR signer being verified: a signature block and its .SF.
type v1Signer struct {
	name      string // block file name without META-INF/, e.g. "CERT.RSA"
	blockName string
	sfName    string
	block     *zipx.Entry
	sf        *zipx.Entry

	sfBytes []byte
	cert    SignerInfo
	entries map[string]bool // entry names the .SF lists
	ids     []int           // X-Android-APK-Signed
	errs    []Issue
	warns   []Issue
	ignored bool
}

func (s *v1Signer) fail(code, format string, args ...any) {
	s.errs = append(s.errs, issue(code, "JAR signer %s: "+format, append([]any{s.name}, args...)...))
}

func (s *v1Signer) warn(code, format string, args ...any) {
	s.warns = append(s.warns, issue(code, "JAR signer %s: "+format, append([]any{s.name}, args...)...))
}

// verifyV1 verifies the JAR signature of z for platform versions [minSDK,
// maxSDK] following apksigner's rules, and returns the scheme result and the
// APK signature scheme IDs named by X-Android-APK-Signed in the signers' .SF
// files (for the stripping-protection check, which needs the other schemes).
// The digest of an entry for which copied reports true is not recomputed
// (VerifyJARCopies); nil recomputes every one.
func verifyV1(z *zipx.Reader, minSDK, maxSDK int, copied func(*zipx.Entry) bool) (SchemeResult, []int) {
	var res SchemeResult
	if maxSDK < minSDK {
		res.fail("V1_BAD_SDK_RANGE", "minSdkVersion (%d) > maxSdkVersion (%d)", minSDK, maxSDK)
		return res, nil
	}
	var (
		manifest *zipx.Entry
		sfs      = map[string]*zipx.Entry{}
		blocks   []*zipx.Entry
	)
	for _, e := range z.Entries {
		n := e.Name
		if !strings.HasPrefix(n, "META-INF/") {
			continue
		}
		switch {
		case manifest == nil && n == v1ManifestName:
			manifest = e
		case strings.HasSuffix(n, ".SF"):
			sfs[n] = e
		case strings.HasSuffix(n, ".RSA"), strings.HasSuffix(n, ".DSA"), strings.HasSuffix(n, ".EC"):
			blocks = append(blocks, e)
		}
	}
	res.Present = manifest != nil || len(sfs) > 0 || len(blocks) > 0
	if manifest == nil {
		res.fail("V1_MISSING_MANIFEST", "Missing %s", v1ManifestName)
		return res, nil
	}
	mfBytes, err := manifest.ReadAll(v1MaxMetaFile)
	if err != nil {
		res.fail("V1_MALFORMED_ENTRY", "Malformed ZIP entry: %s: %v", manifest.Name, err)
		return res, nil
	}
	sections := v1ParseSections(mfBytes)
	var mfMain v1Section
	if len(sections) > 0 {
		mfMain, sections = sections[0], sections[1:]
	}
	byName := make(map[string]*v1Section, len(sections))
	for i := range sections {
		sec := &sections[i]
		n, ok := sec.name()
		if !ok {
			res.fail("V1_UNNAMED_MANIFEST_SECTION", "Malformed %s: invidual section #%d does not have a name", v1ManifestName, i+1)
			continue
		}
		if byName[n] != nil {
			res.fail("V1_DUPLICATE_MANIFEST_SECTION", "Duplicate section in %s: %s", v1ManifestName, n)
			continue
		}
		byName[n] = sec
		if z.Entry(n) == nil {
			res.fail("V1_MANIFEST_ENTRY_MISSING", "%s entry referenced by %s not found in the APK", n, v1ManifestName)
		}
	}
	if len(res.Errors) > 0 {
		return res, nil
	}

	var signers []*v1Signer
	for _, b := range blocks {
		base := b.Name[:strings.LastIndexByte(b.Name, '.')]
		sf := sfs[base+".SF"]
		if sf == nil {
			res.warn("V1_MISSING_SIG_FILE", "Partial JAR signature. Found: %s, missing: %s", b.Name, base+".SF")
			continue
		}
		signers = append(signers, &v1Signer{
			name: strings.TrimPrefix(b.Name, "META-INF/"), blockName: b.Name, sfName: sf.Name,
			block: b, sf: sf,
		})
	}
	if len(signers) == 0 {
		res.fail("V1_NO_SIGNATURES", "No JAR signatures")
		return res, nil
	}
	if len(signers) > v1MaxSigners {
		res.fail("V1_TOO_MANY_SIGNERS", "APK Signature Scheme v1 only supports a maximum of %d signers, found %d", v1MaxSigners, len(signers))
		return res, nil
	}

	// Each signature block must verify against its .SF file; any failure
	// ends verification, as on Android.
	failed := false
	for _, s := range signers {
		s.verifyBlock(minSDK, maxSDK)
		if len(s.errs) > 0 {
			res.Errors = append(res.Errors, s.errs...)
			failed = true
		}
	}
	if failed {
		return res, nil
	}

	// Each .SF must vouch for the manifest.
	var live []*v1Signer
	for _, s := range signers {
		s.verifyAgainstManifest(mfBytes, &mfMain, byName, minSDK, maxSDK)
		switch {
		case s.ignored:
			for _, e := range s.errs {
				res.warn(e.Code, "%s (signer ignored)", e.Message)
			}
		case len(s.errs) > 0:
			res.Errors = append(res.Errors, s.errs...)
			failed = true
		default:
			live = append(live, s)
		}
		res.Warnings = append(res.Warnings, s.warns...)
	}
	if failed {
		return res, nil
	}
	if len(live) == 0 {
		res.fail("V1_NO_SIGNATURES", "No JAR signatures")
		return res, nil
	}

	used := verifyV1Entries(z, byName, live, minSDK, maxSDK, copied, &res)
	if len(res.Errors) > 0 {
		return res, nil
	}

	// META-INF/ files other than the signature itself are not protected on
	// Android, whatever the manifest says.
	sigNames := map[string]bool{manifest.Name: true}
	for _, s := range used {
		sigNames[s.blockName] = true
		sigNames[s.sfName] = true
	}
	for _, e := range z.Entries {
		if strings.HasPrefix(e.Name, "META-INF/") && !strings.HasSuffix(e.Name, "/") && !sigNames[e.Name] {
			res.warn("V1_NOT_PROTECTED", "%s not protected by signature. Unauthorized modifications to this JAR entry will not be detected. Delete or move the entry outside of META-INF/.", e.Name)
		}
	}

	var ids []int
	for _, s := range used {
		res.Signers = append(res.Signers, s.cert)
		ids = append(ids, s.ids...)
	}
	sort.Ints(ids)
	ids = slices.Compact(ids)
	res.Verified = true
	return res, ids
}

// verifyBlock checks the signature block against the .SF file and records the
// signing certificate.
func (s *v1Signer) verifyBlock(minSDK, maxSDK int) {
	blockBytes, err := s.block.ReadAll(v1MaxMetaFile)
	if err != nil {
		s.fail("V1_MALFORMED_ENTRY", "Malformed ZIP entry: %s: %v", s.blockName, err)
		return
	}
	s.sfBytes, err = s.sf.ReadAll(v1MaxMetaFile)
	if err != nil {
		s.fail("V1_MALFORMED_ENTRY", "Malformed ZIP entry: %s: %v", s.sfName, err)
		return
	}
	p7, err := parsePKCS7(blockBytes)
	if err != nil {
		s.fail("V1_SIG_PARSE_ERROR", "Failed to parse JAR signature %s: %v", s.blockName, err)
		return
	}
	if len(p7.signers) == 0 {
		s.fail("V1_SIG_NO_SIGNERS", "JAR signature %s contains no signers", s.blockName)
		return
	}
	// Before Android 7.0 only the first SignerInfo is tried.
	try := p7.signers
	if minSDK < sdkN {
		try = try[:1]
	}
	opts := pkcs7VerifyOpts{
		rejectSignedAttrs: minSDK < v1SDKKitKat,
		checkContentType:  maxSDK >= sdkN,
	}
	for i := range try {
		si := &try[i]
		if missing := v1UnsupportedLevels(si.DigestAlgorithm.Algorithm.String(), si.SignatureAlgorithm.Algorithm.String(), minSDK, maxSDK); missing != "" {
			s.fail("V1_UNSUPPORTED_SIG_ALG", "JAR signature %s uses digest algorithm %s and signature algorithm %s which is not supported on API Level(s) %s for which this APK is being verified",
				s.blockName, pkcs7OIDName(si.DigestAlgorithm.Algorithm), pkcs7OIDName(si.SignatureAlgorithm.Algorithm), missing)
			return
		}
		cert, err := p7.verify(si, s.sfBytes, opts)
		if err != nil {
			if errors.Is(err, errPKCS7Malformed) {
				s.fail("V1_SIG_PARSE_ERROR", "Failed to parse JAR signature %s: %v", s.blockName, err)
			} else {
				s.fail("V1_SIG_VERIFY_ERROR", "Failed to verify JAR signature %s against %s: %v", s.blockName, s.sfName, err)
			}
			return
		}
		if cert != nil {
			s.cert = newSignerInfo(cert)
			return
		}
	}
	s.fail("V1_SIG_DOES_NOT_VERIFY", "JAR signature %s did not verify against %s", s.blockName, s.sfName)
}

// verifyAgainstManifest checks the .SF file's digests of the manifest (whole
// or per section) and collects the entry names it lists.
func (s *v1Signer) verifyAgainstManifest(mf []byte, mfMain *v1Section, byName map[string]*v1Section, minSDK, maxSDK int) {
	sections := v1ParseSections(s.sfBytes)
	if len(sections) == 0 {
		sections = []v1Section{{}}
	}
	main := &sections[0]
	if _, ok := main.get("Signature-Version"); !ok {
		s.fail("V1_SIG_FILE_NO_VERSION", "Malformed %s: missing Signature-Version attribute", s.sfName)
		s.ignored = true
		return
	}
	if v, ok := main.get("X-Android-APK-Signed"); ok {
		for _, tok := range strings.Split(v, ",") {
			if id, err := strconv.Atoi(strings.TrimSpace(tok)); err == nil {
				s.ids = append(s.ids, id)
			}
		}
	}
	createdBy, _ := main.get("Created-By")
	signtool := strings.Contains(createdBy, "signtool")

	// Whole-manifest digest: a mismatch is only a warning, the sections
	// are then checked one by one.
	suffix := "-Digest-Manifest"
	if signtool {
		suffix = "-Digest"
	}
	wholeOK := false
	if want := v1DigestsToVerify(main, suffix, minSDK, maxSDK); len(want) == 0 {
		s.warn("V1_NO_MANIFEST_DIGEST", "%s does not specify digest of %s. This slows down verification.", s.sfName, v1ManifestName)
	} else {
		wholeOK = true
		for _, d := range want {
			if got := v1Hash(d.alg.hash, mf); !bytes.Equal(got, d.digest) {
				s.warn("V1_MANIFEST_DIGEST_MISMATCH", "%s digest of %s does not match the digest specified in %s. Expected: <%s>, actual: <%s>",
					d.alg.name, v1ManifestName, s.sfName, v1B64(d.digest), v1B64(got))
				wholeOK = false
			}
		}
	}
	if !signtool {
		for _, d := range v1DigestsToVerify(main, "-Digest-Manifest-Main-Attributes", minSDK, maxSDK) {
			if got := v1Hash(d.alg.hash, mf[mfMain.start:mfMain.end]); !bytes.Equal(got, d.digest) {
				s.fail("V1_MANIFEST_MAIN_SECTION_DIGEST_MISMATCH", "%s digest of %s main section does not match the digest specified in %s. Expected: <%s>, actual: <%s>",
					d.alg.name, v1ManifestName, s.sfName, v1B64(d.digest), v1B64(got))
			}
		}
	}
	if len(s.errs) > 0 {
		return
	}

	s.entries = make(map[string]bool, len(sections)-1)
	for i := range sections[1:] {
		sec := &sections[i+1]
		n, ok := sec.name()
		if !ok {
			s.fail("V1_UNNAMED_SIG_FILE_SECTION", "Malformed %s: invidual section #%d does not have a name", s.sfName, i+1)
			s.ignored = true
			return
		}
		if s.entries[n] {
			s.fail("V1_DUPLICATE_SIG_FILE_SECTION", "Duplicate section in %s: %s", s.sfName, n)
			s.ignored = true
			return
		}
		s.entries[n] = true
		if wholeOK {
			continue
		}
		mfSec := byName[n]
		if mfSec == nil {
			s.fail("V1_NO_SIG_FILE_DIGEST", "No digest for %s in %s", n, s.sfName)
			s.ignored = true
			continue
		}
		want := v1DigestsToVerify(sec, "-Digest", minSDK, maxSDK)
		if len(want) == 0 {
			s.fail("V1_NO_SIG_FILE_DIGEST", "No digest for %s in %s", n, s.sfName)
			continue
		}
		start, end := mfSec.start, mfSec.end
		// signtool digested sections without their empty line.
		if signtool && end-start >= 2 && mf[end-1] == '\n' && mf[end-2] == '\n' {
			end--
		}
		for _, d := range want {
			if got := v1Hash(d.alg.hash, mf[start:end]); !bytes.Equal(got, d.digest) {
				s.fail("V1_MANIFEST_SECTION_DIGEST_MISMATCH", "%s digest of %s section for %s does not match the digest specified in %s. Expected: <%s>, actual: <%s>",
					d.alg.name, v1ManifestName, n, s.sfName, v1B64(d.digest), v1B64(got))
			}
		}
	}
}

// verifyV1Entries checks every entry outside META-INF/ against its manifest
// digest and requires all of them to be signed by the same signers, which it
// returns. Problems are added to res in archive order.
func verifyV1Entries(z *zipx.Reader, byName map[string]*v1Section, signers []*v1Signer, minSDK, maxSDK int, copied func(*zipx.Entry) bool, res *SchemeResult) []*v1Signer {
	entries := make([]*zipx.Entry, 0, len(z.Entries))
	for _, e := range z.Entries {
		// Android checks only entries outside META-INF/.
		if !strings.HasPrefix(e.Name, "META-INF/") && !strings.HasSuffix(e.Name, "/") {
			entries = append(entries, e)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].HeaderOffset < entries[j].HeaderOffset })

	type job struct {
		e      *zipx.Entry
		want   []v1Digest
		issues []Issue
	}
	jobs := make([]job, len(entries))
	var todo []int
	var first []*v1Signer
	var firstName string
	for i, e := range entries {
		j := &jobs[i]
		j.e = e
		sec := byName[e.Name]
		if sec == nil {
			j.issues = append(j.issues, issue("V1_ENTRY_NOT_IN_MANIFEST", "No digest for %s in %s", e.Name, v1ManifestName))
			continue
		}
		var by []*v1Signer
		for _, s := range signers {
			if s.entries[e.Name] {
				by = append(by, s)
			}
		}
		if len(by) == 0 {
			j.issues = append(j.issues, issue("V1_ENTRY_NOT_SIGNED", "%s entry not signed", e.Name))
			continue
		}
		if first == nil {
			first, firstName = by, e.Name
		} else if !slices.Equal(first, by) {
			j.issues = append(j.issues, issue("V1_ENTRY_SIGNERS_MISMATCH", "Entries %s and %s are signed with different sets of signers : <%s> vs <%s>",
				firstName, e.Name, v1SignerNames(first), v1SignerNames(by)))
			continue
		}
		j.want = v1DigestsToVerify(sec, "-Digest", minSDK, maxSDK)
		if len(j.want) == 0 {
			j.issues = append(j.issues, issue("V1_ENTRY_NOT_IN_MANIFEST", "No digest for %s in %s", e.Name, v1ManifestName))
			continue
		}
		todo = append(todo, i)
	}

	_ = v1Parallel(len(todo), func(k int, buf []byte) error {
		j := &jobs[todo[k]]
		if copied != nil && copied(j.e) {
			return nil
		}
		hs := make([]hash.Hash, len(j.want))
		ws := make([]io.Writer, len(j.want))
		for i, d := range j.want {
			hs[i] = d.alg.hash.New()
			ws[i] = hs[i]
		}
		rc := j.e.Open()
		_, err := io.CopyBuffer(io.MultiWriter(ws...), rc, buf)
		rc.Close()
		if err != nil {
			j.issues = append(j.issues, issue("V1_MALFORMED_ENTRY", "Malformed ZIP entry: %s: %v", j.e.Name, err))
			return nil
		}
		for i, d := range j.want {
			got := hs[i].Sum(nil)
			if !bytes.Equal(got, d.digest) {
				j.issues = append(j.issues, issue("V1_ENTRY_DIGEST_MISMATCH", "%s digest of %s does not match the digest specified in %s. Expected: <%s>, actual: <%s>",
					d.alg.name, j.e.Name, v1ManifestName, v1B64(d.digest), v1B64(got)))
			}
		}
		return nil
	})
	for _, j := range jobs {
		res.Errors = append(res.Errors, j.issues...)
	}
	if first == nil {
		res.fail("V1_NO_SIGNED_ENTRIES", "No JAR entries covered by JAR signatures")
	}
	return first
}

func v1SignerNames(ss []*v1Signer) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.name
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// v1SDKRange is an inclusive range of API levels.
type v1SDKRange struct{ lo, hi int }

// v1SigAlgLevels returns the API levels on which Android accepts a
// SignerInfo with the given digest and signature algorithm OIDs: the table
// of apksig (OidConstants.SUPPORTED_SIG_ALG_OIDS), one row per signature
// algorithm, one column per digest algorithm. Key-only signature OIDs
// (rsaEncryption, dsa, id-ecPublicKey) sign with the digest algorithm; a
// hash-specific one ("sha256WithRSA") with its own hash, and with another
// digest algorithm it works only where Android 5.x ignored the mismatch.
func v1SigAlgLevels(digestOID, sigOID string) []v1SDKRange {
	var (
		all      = []v1SDKRange{{0, maxSDKUnbounded}}
		from9    = []v1SDKRange{{9, maxSDKUnbounded}}
		from18   = []v1SDKRange{{18, maxSDKUnbounded}}
		from21   = []v1SDKRange{{21, maxSDKUnbounded}}
		from22   = []v1SDKRange{{22, maxSDKUnbounded}}
		pre9or18 = []v1SDKRange{{0, 8}, {18, maxSDKUnbounded}}
		pre9or21 = []v1SDKRange{{0, 8}, {21, maxSDKUnbounded}}
		l21      = []v1SDKRange{{21, 21}}
		l21to23  = []v1SDKRange{{21, 23}}
	)
	col := map[string]int{pkcs7OIDMD5: 0, pkcs7OIDSHA1: 1, pkcs7OIDSHA224: 2, pkcs7OIDSHA256: 3, pkcs7OIDSHA384: 4, pkcs7OIDSHA512: 5}
	i, ok := col[digestOID]
	if !ok {
		return nil
	}
	var row [6][]v1SDKRange // MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512
	switch sigOID {
	case pkcs7OIDRSA:
		row = [6][]v1SDKRange{all, all, pre9or21, pre9or18, from18, from18}
	case "1.2.840.113549.1.1.4": // md5WithRSAEncryption
		row = [6][]v1SDKRange{pre9or21, l21to23, l21to23, l21to23, l21to23, l21to23}
	case "1.2.840.113549.1.1.5": // sha1WithRSAEncryption
		row = [6][]v1SDKRange{l21to23, all, l21to23, l21, l21to23, l21to23}
	case "1.2.840.113549.1.1.14": // sha224WithRSAEncryption
		row = [6][]v1SDKRange{l21to23, l21to23, pre9or21, l21to23, l21to23, l21to23}
	case "1.2.840.113549.1.1.11": // sha256WithRSAEncryption
		row = [6][]v1SDKRange{l21to23, l21to23, l21, pre9or18, l21to23, l21to23}
	case "1.2.840.113549.1.1.12": // sha384WithRSAEncryption
		row = [6][]v1SDKRange{l21to23, l21to23, l21to23, l21to23, from21, l21}
	case "1.2.840.113549.1.1.13": // sha512WithRSAEncryption
		row = [6][]v1SDKRange{l21to23, l21to23, l21to23, l21to23, l21to23, from21}
	case pkcs7OIDDSA:
		row = [6][]v1SDKRange{nil, all, from22, from22, nil, nil}
	case "1.2.840.10040.4.3": // dsa-with-sha1
		row = [6][]v1SDKRange{l21to23, from9, l21to23, l21to23, l21to23, l21to23}
	case "2.16.840.1.101.3.4.3.1": // dsa-with-sha224
		row = [6][]v1SDKRange{l21to23, l21to23, from21, l21to23, l21to23, l21to23}
	case "2.16.840.1.101.3.4.3.2": // dsa-with-sha256
		row = [6][]v1SDKRange{l21to23, l21to23, l21to23, from21, l21to23, l21to23}
	case pkcs7OIDECPublicKey:
		row = [6][]v1SDKRange{nil, from18, from21, from18, from18, from18}
	case "1.2.840.10045.4.1": // ecdsa-with-SHA1
		row = [6][]v1SDKRange{l21to23, from18, l21to23, l21to23, l21to23, l21to23}
	case "1.2.840.10045.4.3.1": // ecdsa-with-SHA224
		row = [6][]v1SDKRange{l21to23, l21to23, from21, l21to23, l21to23, l21to23}
	case "1.2.840.10045.4.3.2": // ecdsa-with-SHA256
		row = [6][]v1SDKRange{l21to23, l21to23, l21to23, from21, l21to23, l21to23}
	case "1.2.840.10045.4.3.3": // ecdsa-with-SHA384
		row = [6][]v1SDKRange{l21to23, l21to23, l21to23, l21to23, from21, l21to23}
	case "1.2.840.10045.4.3.4": // ecdsa-with-SHA512
		row = [6][]v1SDKRange{l21to23, l21to23, l21to23, l21to23, l21to23, from21}
	}
	return row[i]
}

// v1UnsupportedLevels returns the API levels of [minSDK, maxSDK] on which the
// algorithm pair is not accepted, formatted as apksigner does ("17, 19-20",
// "21+"), or "" if it is accepted on all of them.
func v1UnsupportedLevels(digestOID, sigOID string, minSDK, maxSDK int) string {
	var gaps []string
	pos := minSDK
	for _, r := range v1SigAlgLevels(digestOID, sigOID) {
		if r.hi < pos {
			continue
		}
		if r.lo > maxSDK {
			break
		}
		if r.lo > pos {
			gaps = append(gaps, v1FormatRange(pos, r.lo-1))
		}
		if r.hi >= maxSDK {
			pos = maxSDK + 1
			break
		}
		pos = r.hi + 1
	}
	if pos <= maxSDK {
		gaps = append(gaps, v1FormatRange(pos, maxSDK))
	}
	return strings.Join(gaps, ", ")
}

func v1FormatRange(lo, hi int) string {
	switch {
	case lo == hi:
		return strconv.Itoa(lo)
	case hi >= maxSDKUnbounded:
		return strconv.Itoa(lo) + "+"
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}
