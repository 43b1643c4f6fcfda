package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits up to 10 s for addr to accept connections; exited
// reports the daemon's early exit.
func waitListening(t testing.TB, name, addr string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case werr := <-exited:
			t.Fatalf("testenv: %s exited before listening: %v", name, werr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s did not start listening on %s: %v", name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// daemon is a started server process.
type daemon struct {
	cmd    *exec.Cmd
	exited chan error
}

// startDaemon starts cmd, stopped (SIGKILL) when the test ends, and waits
// until it listens on addr.
func startDaemon(t testing.TB, name, addr string, cmd *exec.Cmd) *daemon {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	d := &daemon{cmd: cmd, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() { d.stop() })
	waitListening(t, name, addr, d.exited)
	return d
}

// stop ends the daemon (SIGINT, then SIGKILL after 10 s) and waits for it.
func (d *daemon) stop() {
	if d.exited == nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.exited = nil
}

// Redis runs a real redis-server on a free loopback port for the test and
// returns its URL (redis://127.0.0.1:PORT/0).
func Redis(t testing.TB) string {
	t.Helper()
	bin := Tool(t, "redis-server")
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startDaemon(t, "redis-server", addr, cmd)
	return "redis://" + addr + "/0"
}

// PostgresServer is a real PostgreSQL server (the Debian postgresql
// package's binaries) on a throw-away data directory and a free loopback
// port, trusting local connections.
type PostgresServer struct {
	// URL connects to its postgres database as the postgres superuser.
	URL  string
	bin  string
	data string
	port int
	cred *syscall.Credential
	d    *daemon
}

// Postgres initialises and starts a PostgreSQL server for the test, stopped
// when it ends. initdb and postgres refuse to run as root: as root they run
// as the postgres system user (which the package creates), on a directory
// it owns.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: postgres not run in -short mode")
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Fatal("testenv: PostgreSQL not installed (/usr/lib/postgresql/*/bin/postgres): run scripts/install-deps.sh")
	}
	sort.Strings(bins)
	p := &PostgresServer{bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	// Not t.TempDir: its parents are 0700 root, closed to the postgres user.
	dir, err := os.MkdirTemp("", "testenv-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.data = filepath.Join(dir, "data")
	if err := os.Mkdir(p.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: running as root needs the postgres system user (run scripts/install-deps.sh): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := p.command("initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.Start(t)
	return p
}

// command runs a PostgreSQL binary as the server's user.
func (p *PostgresServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = "/"
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// Start starts the server (again, after Stop) and waits until it listens.
func (p *PostgresServer) Start(t testing.TB) {
	t.Helper()
	cmd := p.command("postgres", "-D", p.data, "-p", strconv.Itoa(p.port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	p.d = startDaemon(t, "postgres", fmt.Sprintf("127.0.0.1:%d", p.port), cmd)
	// It listens before it accepts sessions ("the database system is
	// starting up"); pg_isready says when it does.
	for i := 0; ; i++ {
		out, err := p.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port)).CombinedOutput()
		if err == nil {
			return
		}
		if i > 200 {
			t.Fatalf("testenv: postgres not ready: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown: sessions are ended).
func (p *PostgresServer) Stop() {
	p.d.stop()
}

// SyncBuffer collects output written from several goroutines (a server's
// log); String returns what was written so far.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns the bytes written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset forgets what was written.
func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
