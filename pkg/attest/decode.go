package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
)

// bodyPool holds *[]byte buffers for request bodies read whole, grown to
// the largest body each has held (at most MaxBodyBytes).
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// readAttestRequest is readJSON(w, r, req, false) for the body of
// POST /v1/attest and /v1/certificate, with the same answers for every
// input: a body of known length within MaxBodyBytes is read whole and, when
// it has the common shape decodeAttestFast accepts, decoded without
// reflection; anything else (and any read error) goes through the same
// encoding/json decoder as readJSON, fed the same bytes and error.
func readAttestRequest(w http.ResponseWriter, r *http.Request, req *AttestRequest) bool {
	if r.ContentLength < 0 || r.ContentLength > MaxBodyBytes {
		return readJSON(w, r, req, false)
	}
	if !contentTypeJSON(w, r) {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	*bp = slices.Grow((*bp)[:0], int(r.ContentLength))
	buf := (*bp)[:r.ContentLength]
	n, err := io.ReadFull(r.Body, buf)
	if err == nil && decodeAttestFast(buf, req) {
		return true
	}
	*req = AttestRequest{}
	var body io.Reader = bytes.NewReader(buf[:n])
	if err != nil {
		body = io.MultiReader(body, errReader{err})
	}
	return decodeStrict(w, body, req, false)
}

// errReader returns its error on every Read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// contentTypeJSON reports whether r's content type is JSON (or absent on an
// empty body) and answers 415 otherwise.
func contentTypeJSON(w http.ResponseWriter, r *http.Request) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && (ct != "" || r.ContentLength != 0) {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			httpError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
			return false
		}
	}
	return true
}

// decodeStrict decodes one JSON value from body into v, refusing unknown
// fields and trailing data, and answers the errors (413, 400).
func decodeStrict(w http.ResponseWriter, body io.Reader, v any, allowEmpty bool) bool {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, "body too large")
			return false
		}
		if errors.Is(err, io.EOF) && allowEmpty {
			return true
		}
		httpError(w, http.StatusBadRequest, "malformed JSON")
		return false
	}
	if dec.More() {
		httpError(w, http.StatusBadRequest, "trailing data after JSON")
		return false
	}
	return true
}

// decodeAttestFast decodes b into the zero req and reports true when b is
// one JSON object, optionally surrounded by whitespace, whose keys are
// distinct, spelt exactly as AttestRequest's JSON names (other than "ios"),
// whose strings are printable ASCII without escapes, whose versionCode is
// a decimal of at most 18 digits without sign or leading zero, with no
// null: for such input encoding/json (DisallowUnknownFields) yields the
// same req. On false req may be partly written and the caller must decode
// b with encoding/json instead.
func decodeAttestFast(b []byte, req *AttestRequest) bool {
	d := fastDecoder{b: b}
	d.space()
	var seen uint16
	ok := d.object(func(key []byte) bool {
		var (
			bit uint16
			ok  bool
		)
		switch string(key) {
		case "nonce":
			bit, ok = 1<<0, d.strInto(&req.Nonce)
		case "proof":
			bit, ok = 1<<1, d.strInto(&req.Proof)
		case "package":
			bit, ok = 1<<2, d.strInto(&req.Package)
		case "runtimeDigest":
			bit, ok = 1<<3, d.strInto(&req.RuntimeDigest)
		case "manifestDigest":
			bit, ok = 1<<4, d.strInto(&req.ManifestDigest)
		case "appAttestKeyId":
			bit, ok = 1<<5, d.strInto(&req.AppAttestKeyID)
		case "appAttestation":
			bit, ok = 1<<6, d.strInto(&req.AppAttestation)
		case "identityPublicKey":
			bit, ok = 1<<7, d.strInto(&req.IdentityPublicKey)
		case "versionCode":
			bit, ok = 1<<8, d.uint(&req.VersionCode)
		case "signerDigests":
			bit, ok = 1<<9, d.strs(&req.SignerDigests)
		case "threats":
			bit, ok = 1<<10, d.strs(&req.Threats)
		case "keyAttestationChain":
			bit, ok = 1<<11, d.strs(&req.KeyAttestationChain)
		case "dexDigests":
			bit, ok = 1<<12, d.strMap(&req.DexDigests)
		case "deviceInfo":
			bit, ok = 1<<13, d.strMap(&req.DeviceInfo)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	d.space()
	return ok && d.i == len(d.b)
}

// fastDecoder is decodeAttestFast's cursor over the body.
type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

// byte consumes c if it is next.
func (d *fastDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str consumes a string of printable ASCII without escapes and returns its
// contents (a view of the body, valid until the body is reused).
func (d *fastDecoder) str() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
		d.i++
	}
	return nil, false
}

func (d *fastDecoder) strInto(dst *string) bool {
	s, ok := d.str()
	*dst = string(s)
	return ok
}

// uint consumes a decimal of 1 to 18 digits without a leading zero (or
// "0"), which fits an int64 whatever the digits.
func (d *fastDecoder) uint(dst *int64) bool {
	start := d.i
	var v int64
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		v = v*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	n := d.i - start
	if n == 0 || n > 18 || n > 1 && d.b[start] == '0' {
		return false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return false
	}
	*dst = v
	return true
}

// strs consumes an array of strings (see str); [] is an empty, non-nil
// slice as encoding/json makes it.
func (d *fastDecoder) strs(dst *[]string) bool {
	if !d.byte('[') {
		return false
	}
	out := []string{}
	d.space()
	if d.byte(']') {
		*dst = out
		return true
	}
	for {
		d.space()
		s, ok := d.str()
		if !ok {
			return false
		}
		out = append(out, string(s))
		d.space()
		if d.byte(']') {
			*dst = out
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

// strMap consumes an object of strings (see str) with distinct keys; {} is
// an empty, non-nil map as encoding/json makes it.
func (d *fastDecoder) strMap(dst *map[string]string) bool {
	out := map[string]string{}
	ok := d.object(func(k []byte) bool {
		v, ok := d.str()
		if !ok {
			return false
		}
		if _, dup := out[string(k)]; dup {
			return false
		}
		out[string(k)] = string(v)
		return true
	})
	if ok {
		*dst = out
	}
	return ok
}

// object consumes an object whose keys are strings (see str), calling
// member with each key once the cursor is on its value (whitespace
// skipped); member consumes the value and says whether it was acceptable.
func (d *fastDecoder) object(member func(key []byte) bool) bool {
	if !d.byte('{') {
		return false
	}
	d.space()
	if d.byte('}') {
		return true
	}
	for {
		d.space()
		key, ok := d.str()
		if !ok {
			return false
		}
		d.space()
		if !d.byte(':') {
			return false
		}
		d.space()
		if !member(key) {
			return false
		}
		d.space()
		if d.byte('}') {
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}
