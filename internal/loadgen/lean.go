package main

import (
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
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/trustfuse/trustfuse/pkg/attest"
)

// The attest scenario's client stands in for a fleet of devices and shares
// the cores with serve, so it is built as wrk is, to cost as little CPU:
// one event loop drives every keep-alive connection through non-blocking
// sockets and epoll, each request written from a template built once (one
// write, one TLS record), each response parsed as its bytes arrive into a
// reused buffer. Every response is still checked: the status, its JSON (of
// the exact shape serve writes, or decoded by encoding/json), the nonce's
// length, the token's kid. Measured on 2 cores shared with serve at c=8: 31
// to 39 us of CPU per pair, against 47 to 66 with a goroutine per
// connection on Go's netpoller and 49 with an event loop per core
// (docs/benchmarks.md).

// maxResponse caps a response body the lean client reads.
const maxResponse = 1 << 20

// errWouldBlock is a non-blocking socket's EAGAIN as a temporary net.Error,
// which crypto/tls returns without marking the connection broken: the
// record read so far stays buffered for the next Read.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// rawConn is a net.Conn over a TCP socket's descriptor, read without
// blocking once the socket is non-blocking (errWouldBlock when empty);
// writes wait for room. Deadlines are not supported: the event loop times
// requests out itself.
type rawConn struct {
	fd     int
	local  net.Addr
	remote net.Addr
}

// dialRaw connects a TCP socket to addr (TCP_NODELAY, as Go and wrk set
// it), blocking, with reads timing out after timeout until made
// non-blocking.
func dialRaw(addr *net.TCPAddr, timeout time.Duration) (*rawConn, error) {
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if ip4 := addr.IP.To4(); ip4 != nil {
		sa = &syscall.SockaddrInet4{Port: addr.Port, Addr: [4]byte(ip4)}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: addr.Port, Addr: [16]byte(addr.IP.To16())}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	for _, o := range []error{
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1),
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv),
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv),
		connect(fd, sa),
	} {
		if o != nil {
			_ = syscall.Close(fd)
			return nil, o
		}
	}
	return &rawConn{fd: fd, remote: addr, local: &net.TCPAddr{}}, nil
}

func connect(fd int, sa syscall.Sockaddr) error {
	for {
		err := syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			return os.NewSyscallError("connect", err)
		}
	}
}

func (c *rawConn) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *rawConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(c.fd, p[done:])
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN: // the socket buffer is full: wait for room
			fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
			switch n, err := unix.Poll(fds, int(requestTimeout.Milliseconds())); {
			case err != nil && err != unix.EINTR:
				return done, os.NewSyscallError("poll", err)
			case err == nil && n == 0:
				return done, fmt.Errorf("no room to write in %v", requestTimeout)
			}
		case err != nil:
			return done, os.NewSyscallError("write", err)
		default:
			done += n
		}
	}
	return done, nil
}

func (c *rawConn) Close() error                     { return syscall.Close(c.fd) }
func (c *rawConn) LocalAddr() net.Addr              { return c.local }
func (c *rawConn) RemoteAddr() net.Addr             { return c.remote }
func (c *rawConn) SetDeadline(time.Time) error      { return nil }
func (c *rawConn) SetReadDeadline(time.Time) error  { return nil }
func (c *rawConn) SetWriteDeadline(time.Time) error { return nil }

var (
	errChunked  = errors.New("response without Content-Length")
	errTooLarge = errors.New("response body too large")
	errPipeline = errors.New("bytes after the response")
)

// splitResponse parses the HTTP/1.1 response at the start of b: status
// line, headers (Content-Length required, Connection: close honoured),
// body. It returns n = 0 while b holds only part of it.
func splitResponse(b []byte) (code int, body []byte, n int, keep bool, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 64<<10 {
			return 0, nil, 0, false, errors.New("response headers too large")
		}
		return 0, nil, 0, false, nil
	}
	head := b[:end+2]
	line, head, _ := bytes.Cut(head, []byte("\r\n"))
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || len(line) > 12 && line[12] != ' ' {
		return 0, nil, 0, false, fmt.Errorf("malformed status line %q", line)
	}
	if code, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, 0, false, fmt.Errorf("malformed status line %q", line)
	}
	size, keep := -1, true
	for len(head) > 0 {
		var h []byte
		h, head, _ = bytes.Cut(head, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, 0, false, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if size, err = strconv.Atoi(string(value)); err != nil || size < 0 {
				return 0, nil, 0, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case asciiEqualFold(name, "Connection"):
			keep = !asciiEqualFold(value, "close")
		case asciiEqualFold(name, "Transfer-Encoding"):
			return 0, nil, 0, false, errChunked
		}
	}
	switch {
	case size < 0:
		return 0, nil, 0, false, errChunked
	case size > maxResponse:
		return 0, nil, 0, false, errTooLarge
	}
	start := end + 4
	if len(b) < start+size {
		return 0, nil, 0, false, nil
	}
	return code, b[start : start+size], start + size, keep, nil
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
	addr  *net.TCPAddr
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
	p := &leanPairs{a: a, host: u.Host, dials: dials}
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
	if p.addr, err = net.ResolveTCPAddr("tcp", u.Host); err != nil {
		return nil, err
	}
	return p, nil
}

// Offsets in a nonce and a proof as sent (base64url, no padding).
var (
	nonceChars = base64.RawURLEncoding.EncodedLen(attest.NonceLen)
	proofChars = base64.RawURLEncoding.EncodedLen(sha256.Size)
)

// leanWorker is one connection: its request templates, keyed HMAC and
// the request in flight.
type leanWorker struct {
	p         *leanPairs
	challenge []byte // the complete POST /v1/challenge request
	attest    []byte // the complete POST /v1/attest request; nonce and proof filled in per pair
	nonceAt   int    // offset of the nonce in attest
	proofAt   int    // offset of the proof in attest
	mac       hash.Hash
	raw       [attest.NonceLen]byte
	sum       [sha256.Size]byte

	conn  *rawConn
	rw    io.ReadWriter // conn, or TLS over it
	in    []byte        // the response read so far (reused)
	step  string        // the request in flight: "challenge" or "attest"
	sent  time.Time     // when it was sent (for attest: when its proof began)
	retry time.Time     // after a failed dial: when to dial again
}

// worker returns the state of worker id (its device id is "device-<id>").
func (p *leanPairs) worker(id int) *leanWorker {
	w := &leanWorker{p: p, mac: hmac.New(sha256.New, p.a.key), in: make([]byte, 0, 4096)}
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

// requestTimeout is how long a request may wait for its response.
const requestTimeout = 10 * time.Second

// runPairs drives the workers' challenge + attest pairs for d from one
// event loop, and returns the counts and the time taken. A pair's
// latencies are each request's, from its write (for attest: from the
// proof's computation) to its response parsed; requests in flight at the
// end are not counted.
func runPairs(workers []*leanWorker, d time.Duration, max int) (*stats, time.Duration) {
	st := newStats(max)
	start := time.Now()
	w := newWorker()
	if err := eventLoop(workers, start.Add(d), w); err != nil {
		w.done("loop", time.Now(), err)
	}
	st.merge(w)
	return st, time.Since(start)
}

// loop is one event loop: its epoll instance, its workers by socket and
// its counts.
type loop struct {
	ep   int
	byFD map[int32]*leanWorker
	st   *worker
}

// eventLoop runs ws on one epoll instance until deadline.
func eventLoop(ws []*leanWorker, deadline time.Time, st *worker) error {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	defer syscall.Close(ep)
	l := &loop{ep: ep, byFD: map[int32]*leanWorker{}, st: st}
	defer func() {
		for _, w := range ws {
			w.drop(l)
		}
	}()
	events := make([]syscall.EpollEvent, len(ws))
	for {
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		for _, w := range ws {
			switch {
			case w.conn == nil && !now.Before(w.retry):
				if err := w.open(l); err != nil {
					st.done("challenge", now, err)
					w.retry = now.Add(10 * time.Millisecond)
					continue
				}
				w.send(l, "challenge", w.challenge, now)
			case w.conn != nil && now.Sub(w.sent) > requestTimeout:
				w.fail(l, fmt.Errorf("no response in %v", requestTimeout))
			}
		}
		n, err := syscall.EpollWait(ep, events, 50)
		if err != nil && err != syscall.EINTR {
			return os.NewSyscallError("epoll_wait", err)
		}
		for _, ev := range events[:max(n, 0)] {
			if w := l.byFD[ev.Fd]; w != nil {
				w.readable(l)
			}
		}
	}
}

// open dials serve, completes the TLS handshake (blocking, reads timing out
// after requestTimeout) and adds the socket, now non-blocking, to l.
func (w *leanWorker) open(l *loop) error {
	w.p.dials.Add(1)
	c, err := dialRaw(w.p.addr, requestTimeout)
	if err != nil {
		return err
	}
	w.conn, w.rw, w.in = c, c, w.in[:0]
	if w.p.tls != nil {
		tc := tls.Client(c, w.p.tls)
		if err := tc.Handshake(); err != nil {
			w.drop(l)
			return fmt.Errorf("TLS handshake: %w", err)
		}
		w.rw = tc
	}
	if err := syscall.SetNonblock(c.fd, true); err != nil {
		w.drop(l)
		return os.NewSyscallError("setnonblock", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		w.drop(l)
		return os.NewSyscallError("epoll_ctl", err)
	}
	l.byFD[int32(c.fd)] = w
	return nil
}

// drop closes the connection, if any (which also takes it out of epoll);
// the loop dials again.
func (w *leanWorker) drop(l *loop) {
	if w.conn != nil {
		delete(l.byFD, int32(w.conn.fd))
		_ = w.conn.Close()
		w.conn, w.rw = nil, nil
	}
}

// fail counts err against the request in flight and drops the connection.
func (w *leanWorker) fail(l *loop, err error) {
	l.st.done(w.step, w.sent, err)
	w.drop(l)
}

// send writes req as step, timed from start.
func (w *leanWorker) send(l *loop, step string, req []byte, start time.Time) {
	w.step, w.sent = step, start
	if _, err := w.rw.Write(req); err != nil {
		w.fail(l, err)
	}
}

// readable reads what the socket holds and, once the response is whole,
// checks it and sends the next request.
func (w *leanWorker) readable(l *loop) {
	var rerr error // why reading stopped: errWouldBlock, or the end of the connection
	for rerr == nil {
		if len(w.in) == cap(w.in) {
			w.in = slices.Grow(w.in, len(w.in))
		}
		var n int
		n, rerr = w.rw.Read(w.in[len(w.in):cap(w.in)])
		w.in = w.in[:len(w.in)+n]
	}
	code, body, n, keep, err := splitResponse(w.in)
	switch {
	case err != nil:
		w.fail(l, err)
		return
	case n == 0 && errors.Is(rerr, errWouldBlock):
		return // more to come
	case n == 0:
		w.fail(l, rerr)
		return
	case n != len(w.in):
		w.fail(l, errPipeline)
		return
	}
	// A whole response: the connection may end after it (Connection: close).
	keep = keep && errors.Is(rerr, errWouldBlock)
	w.in = w.in[:0]
	if w.step == "challenge" {
		err = w.gotChallenge(code, body)
	} else {
		err = w.gotToken(code, body)
	}
	if !l.st.done(w.step, w.sent, err) || !keep {
		w.drop(l)
		return
	}
	if w.step == "challenge" {
		start := time.Now()
		w.prove()
		w.send(l, "attest", w.attest, start)
	} else {
		w.send(l, "challenge", w.challenge, time.Now())
	}
}

// gotChallenge checks a challenge answer and writes its nonce into the
// attest template.
func (w *leanWorker) gotChallenge(code int, b []byte) error {
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

// prove writes the proof for the nonce in the template into it:
// HMAC-SHA256 under the release's attestation key (attest.Proof), with the
// worker's keyed hash.
func (w *leanWorker) prove() {
	w.mac.Reset()
	w.mac.Write(w.raw[:])
	w.mac.Write(w.p.a.sum[:])
	base64.RawURLEncoding.Encode(w.attest[w.proofAt:w.proofAt+proofChars], w.mac.Sum(w.sum[:0]))
}

// gotToken checks an attest answer: a token signed under the JWKS kid.
func (w *leanWorker) gotToken(code int, b []byte) error {
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
