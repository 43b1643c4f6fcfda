package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trustfuse/trustfuse/pkg/attest"
)

// The attest scenario's client stands in for a fleet of devices and shares
// the cores with serve, so it costs as little CPU as wrk's does: one
// keep-alive connection per worker, each request written from a template
// built once (one Write, one TLS record), each response read with a reused
// buffer. Every response is still checked: the status, its JSON (of the
// exact shape serve writes, or decoded by encoding/json), the nonce's
// length, the token's kid.

// maxResponse caps a response body the lean client reads.
const maxResponse = 1 << 20

// leanConn is one worker's HTTP/1.1 keep-alive connection to serve.
type leanConn struct {
	addr  string      // host:port
	tls   *tls.Config // nil: plain HTTP
	dials *atomic.Int64
	c     net.Conn // nil until the first request, or after an error
	br    *bufio.Reader
	body  []byte // the last response body (reused)
}

// roundTrip sends req (head and body, complete) and returns the status and
// body of the response; the body is valid until the next call. On any
// error the connection is closed and the next call dials again.
func (l *leanConn) roundTrip(req []byte) (int, []byte, error) {
	if l.c == nil {
		if err := l.dial(); err != nil {
			return 0, nil, err
		}
	}
	code, body, keep, err := l.exchange(req)
	if err != nil || !keep {
		_ = l.c.Close()
		l.c = nil
	}
	return code, body, err
}

func (l *leanConn) dial() error {
	l.dials.Add(1)
	c, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
	if err != nil {
		return err
	}
	if l.tls != nil {
		tc := tls.Client(c, l.tls)
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return err
		}
		c = tc
	}
	l.c = c
	if l.br == nil {
		l.br = bufio.NewReaderSize(c, 4096)
	} else {
		l.br.Reset(c)
	}
	return nil
}

var (
	errChunked  = errors.New("response without Content-Length")
	errTooLarge = errors.New("response body too large")
)

// exchange writes req and reads one response: status line, headers
// (Content-Length required, Connection: close honoured), body.
func (l *leanConn) exchange(req []byte) (code int, body []byte, keep bool, err error) {
	_ = l.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := l.c.Write(req); err != nil {
		return 0, nil, false, err
	}
	line, err := l.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || line[12] != ' ' && line[12] != '\r' {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	if code, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	n, keep := -1, true
	for {
		h, err := l.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) <= 2 { // the blank line
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if n, err = strconv.Atoi(string(value)); err != nil || n < 0 {
				return 0, nil, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case asciiEqualFold(name, "Connection"):
			keep = !asciiEqualFold(value, "close")
		case asciiEqualFold(name, "Transfer-Encoding"):
			return 0, nil, false, errChunked
		}
	}
	switch {
	case n < 0:
		return 0, nil, false, errChunked
	case n > maxResponse:
		return 0, nil, false, errTooLarge
	}
	if cap(l.body) < n {
		l.body = make([]byte, n)
	}
	l.body = l.body[:n]
	if _, err := io.ReadFull(l.br, l.body); err != nil {
		return 0, nil, false, err
	}
	return code, l.body, keep, nil
}

// asciiEqualFold reports whether b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i]|0x20, s[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// leanPairs holds what every worker's requests share.
type leanPairs struct {
	a     *attester
	addr  string
	host  string
	tls   *tls.Config
	dials *atomic.Int64
	kidOK atomic.Pointer[string] // the last token header segment found under the JWKS kid
}

// newLeanPairs returns the shared state for challenge + attest pairs
// against serveURL (http or https, 127.0.0.1).
func newLeanPairs(a *attester, serveURL string, tc *tls.Config, dials *atomic.Int64) (*leanPairs, error) {
	u, err := url.Parse(serveURL)
	if err != nil {
		return nil, err
	}
	p := &leanPairs{a: a, addr: u.Host, host: u.Host, dials: dials}
	switch u.Scheme {
	case "https":
		p.tls = tc.Clone()
		p.tls.ServerName = u.Hostname()
	case "http":
	default:
		return nil, fmt.Errorf("%s: scheme must be http or https", serveURL)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("%s: no port", serveURL)
	}
	return p, nil
}

// Offsets in a nonce and a proof as sent (base64url, no padding).
var (
	nonceChars = base64.RawURLEncoding.EncodedLen(attest.NonceLen)
	proofChars = base64.RawURLEncoding.EncodedLen(sha256.Size)
)

// leanWorker is one worker's connection, request templates and keyed
// HMAC.
type leanWorker struct {
	p         *leanPairs
	conn      leanConn
	challenge []byte // the complete POST /v1/challenge request
	attest    []byte // the complete POST /v1/attest request; nonce and proof filled in per pair
	nonceAt   int    // offset of the nonce in attest
	proofAt   int    // offset of the proof in attest
	mac       hash.Hash
	raw       [attest.NonceLen]byte
	sum       [sha256.Size]byte
}

// worker returns the state of worker id (its device id is "device-<id>").
func (p *leanPairs) worker(id int) *leanWorker {
	w := &leanWorker{p: p, conn: leanConn{addr: p.addr, tls: p.tls, dials: p.dials},
		mac: hmac.New(sha256.New, p.a.key)}
	w.challenge = []byte("POST /v1/challenge HTTP/1.1\r\nHost: " + p.host + "\r\nContent-Length: 0\r\n\r\n")
	var body []byte
	body = append(body, `{"nonce":"`...)
	nonceAt := len(body)
	body = append(body, strings.Repeat("n", nonceChars)...)
	body = append(body, `","proof":"`...)
	proofAt := len(body)
	body = append(body, strings.Repeat("p", proofChars)...)
	body = append(body, `","deviceInfo":{"id":"device-`...)
	body = strconv.AppendInt(body, int64(id), 10)
	body = append(body, `"},`...)
	body = append(body, p.a.fields...)
	body = append(body, '}')
	head := "POST /v1/attest HTTP/1.1\r\nHost: " + p.host + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n"
	w.attest = append([]byte(head), body...)
	w.nonceAt, w.proofAt = len(head)+nonceAt, len(head)+proofAt
	return w
}

// pair is one iteration: a challenge, then an attestation of the release
// for its nonce, each timed, checked and counted.
func (w *leanWorker) pair(st *worker) {
	t := time.Now()
	if !st.done("challenge", t, w.doChallenge()) {
		return
	}
	t = time.Now()
	st.done("attest", t, w.doAttest())
}

// doChallenge gets a nonce and writes it into the attest template.
func (w *leanWorker) doChallenge() error {
	code, b, err := w.conn.roundTrip(w.challenge)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("challenge: HTTP %d: %.100s", code, b)
	}
	nonce, err := parseAnswer(b, `{"nonce":"`)
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	if len(nonce) != nonceChars {
		return fmt.Errorf("challenge: nonce of %d characters, want %d", len(nonce), nonceChars)
	}
	if _, err := base64.RawURLEncoding.Decode(w.raw[:], nonce); err != nil {
		return fmt.Errorf("challenge: nonce: %w", err)
	}
	copy(w.attest[w.nonceAt:], nonce)
	return nil
}

// parseAnswer returns the string of serve's answer b, which begins with
// open (`{"nonce":"` or `{"token":"`): b must be that string of base64url
// characters and dots, then `","expiresAt":"`, an RFC 3339 time, `"}` and
// a newline. Bytes of that form are JSON that encoding/json decodes into
// attest.ChallengeResponse or attest.AttestResponse (TestParseAnswer), in
// a fraction of its time; any other answer is decoded by encoding/json
// and must have both members.
func parseAnswer(b []byte, open string) ([]byte, error) {
	const mid = `","expiresAt":"`
	if rest, ok := bytes.CutPrefix(b, []byte(open)); ok {
		i := 0
		for i < len(rest) && base64urlOrDot(rest[i]) {
			i++
		}
		str, rest := rest[:i], rest[i:]
		if at, ok := bytes.CutPrefix(rest, []byte(mid)); ok {
			if t, ok := bytes.CutSuffix(at, []byte("\"}\n")); ok && bytes.IndexByte(t, '"') < 0 {
				var exp time.Time // parsed as encoding/json parses a time.Time
				if exp.UnmarshalText(t) == nil {
					return str, nil
				}
			}
		}
	}
	var v struct {
		Nonce     *string    `json:"nonce"`
		Token     *string    `json:"token"`
		ExpiresAt *time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	str := v.Nonce
	if open == `{"token":"` {
		str = v.Token
	}
	if str == nil || v.ExpiresAt == nil {
		return nil, fmt.Errorf("answer without %s or expiresAt: %.100s", strings.Trim(open, `{":`), b)
	}
	return []byte(*str), nil
}

// base64urlOrDot reports whether c is a base64url character or a dot.
func base64urlOrDot(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// doAttest sends the proof for the nonce in the template (HMAC-SHA256
// under the release's attestation key, attest.Proof, with the worker's
// keyed hash) and checks the token.
func (w *leanWorker) doAttest() error {
	w.mac.Reset()
	w.mac.Write(w.raw[:])
	w.mac.Write(w.p.a.sum[:])
	base64.RawURLEncoding.Encode(w.attest[w.proofAt:w.proofAt+proofChars], w.mac.Sum(w.sum[:0]))
	code, b, err := w.conn.roundTrip(w.attest)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("attest: HTTP %d: %.100s", code, b)
	}
	tok, err := parseAnswer(b, `{"token":"`)
	if err != nil {
		return fmt.Errorf("attest: %w", err)
	}
	if len(tok) == 0 {
		return errors.New("attest: no token")
	}
	return w.p.checkKid(tok)
}

// checkKid is attester.checkKid with the last accepted header segment
// remembered: serve writes the same protected header on every token it
// signs with the JWKS key, so it is decoded again only when it changes.
func (p *leanPairs) checkKid(tok []byte) error {
	hdr, _, ok := bytes.Cut(tok, []byte("."))
	if !ok {
		return errors.New("attest: token is not a compact JWS")
	}
	if last := p.kidOK.Load(); last != nil && *last == string(hdr) {
		return nil
	}
	if err := p.a.checkKid(string(tok)); err != nil {
		return err
	}
	h := string(hdr)
	p.kidOK.Store(&h)
	return nil
}
