package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trustfuse/trustfuse/internal/testenv"
	"github.com/trustfuse/trustfuse/pkg/attest"
)

// TestReleasesPostgres: `releases` on a PostgreSQL registry (a real
// postgres) behaves as on a bbolt file, case by case through the CLI: exit
// code, message, and the database's rows (read with pgx, not through the
// registry) unchanged by every refusal; the URL's password is never shown.
func TestReleasesPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, db := range []string{"reg", "empty"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
	}
	withPassword := strings.Replace(pg.URL, "postgres@", "postgres:pw-s3cret@", 1)
	regURL := strings.Replace(withPassword, "/postgres?", "/reg?", 1)
	emptyURL := strings.Replace(withPassword, "/postgres?", "/empty?", 1)

	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := "file:" + file("rk.hex", strings.Repeat("0f", 32))
	wrong := "file:" + file("wrong.hex", strings.Repeat("f0", 32))
	m := attest.Measurement{Package: "com.example.pg", VersionCode: 7, SignerDigests: []string{strings.Repeat("ab", 32)},
		DexDigests: map[string]string{"classes.dex": strings.Repeat("01", 32)}, RuntimeDigest: strings.Repeat("02", 32),
		ManifestDigest: strings.Repeat("03", 32)}
	b, err := json.Marshal(attest.Registration{Format: attest.RegistrationFormat, ID: m.SHA256(), Measurement: m,
		AttestKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	export := file("rel.json", string(b))
	id := m.SHA256()

	// rows dumps the registry's tables, the oracle for "nothing changed".
	rows := func() string {
		conn, err := pgx.Connect(ctx, strings.Replace(pg.URL, "/postgres?", "/reg?", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass('trustfuse_releases') IS NOT NULL").Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			return ""
		}
		var s string
		err = conn.QueryRow(ctx, `SELECT coalesce((SELECT string_agg(id || record::text, ',' ORDER BY id) FROM trustfuse_releases), '')
			|| coalesce((SELECT string_agg(name || encode(value, 'hex'), ',') FROM trustfuse_registry_meta), '')`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	steps := []struct {
		name      string
		args      []string
		code      int
		out, errs string // regexps on stdout, stderr ("": not checked)
		unchanged bool   // the registry's rows stay as they were
	}{
		{"list missing", []string{"list", "--registry", emptyURL, "--registry-key", key}, exitUsage, "",
			`no registry at postgres://postgres@127\.0\.0\.1:\d+/empty \(create one with`, false},
		{"add creates", []string{"add", "--registry", regURL, "--registry-key", key, "--by", "ci", export}, exitOK,
			`^added ` + id + ` com.example.pg 7\n$`, "", false},
		{"add again", []string{"add", "--registry", regURL, "--registry-key", key, export}, exitOK,
			`^unchanged ` + id, "", true},
		{"add, wrong key", []string{"add", "--registry", regURL, "--registry-key", wrong, export}, exitCredential, "",
			`the key does not match registry postgres://postgres@127\.0\.0\.1:\d+/reg`, true},
		{"list, wrong key", []string{"list", "--registry", regURL, "--registry-key", wrong}, exitCredential, `^$`,
			`the key does not match registry`, true},
		{"list", []string{"list", "--registry", regURL, "--registry-key", key}, exitOK,
			id + `\s+com.example.pg\s+7\s+2023-11-14T22:13:20Z\s+off\s+active\n`, "", true},
		{"revoke", []string{"revoke", "--registry", regURL, "--registry-key", key, "--by", "alice", "--reason", "leak", id}, exitOK,
			`^revoked ` + id, "", false},
		{"add revoked", []string{"add", "--registry", regURL, "--registry-key", key, export}, exitUsage, "",
			`revoked at 2023-11-14T22:13:20Z by alice: leak; .*releases reinstate ` + id, true},
		{"reinstate, wrong key", []string{"reinstate", "--registry", regURL, "--registry-key", wrong, "--reason", "x", id}, exitCredential, "",
			`the key does not match registry`, true},
		{"reinstate", []string{"reinstate", "--registry", regURL, "--registry-key", key, "--by", "bob", "--reason", "ok", id}, exitOK,
			`^reinstated ` + id, "", false},
		{"list --json", []string{"list", "--json", "--registry", regURL, "--registry-key", key}, exitOK,
			`"status": "active",\n\s+"events"|"events": \[`, "", true},
	}
	t.Setenv("SOURCE_DATE_EPOCH", sourceDateEpoch)
	for _, s := range steps {
		before := rows()
		var out, errs bytes.Buffer
		code := run(append([]string{appName, "releases"}, s.args...), &out, &errs)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\n%s", s.name, code, s.code, errs.String())
		}
		if s.out != "" && !regexp.MustCompile(s.out).MatchString(out.String()) {
			t.Fatalf("%s: stdout %q, want /%s/", s.name, out.String(), s.out)
		}
		if s.errs != "" && !regexp.MustCompile(s.errs).MatchString(errs.String()) {
			t.Fatalf("%s: stderr %q, want /%s/", s.name, errs.String(), s.errs)
		}
		if strings.Contains(out.String()+errs.String(), "pw-s3cret") {
			t.Fatalf("%s: the URL's password is shown", s.name)
		}
		if s.unchanged && rows() != before {
			t.Fatalf("%s: the registry changed", s.name)
		}
	}
	var events []attest.Event
	conn, err := pgx.Connect(ctx, strings.Replace(pg.URL, "/postgres?", "/reg?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var raw []byte
	if err := conn.QueryRow(ctx, "SELECT record->'events' FROM trustfuse_releases WHERE id = $1", id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Action+"/"+e.By+"/"+e.Reason)
	}
	if strings.Join(got, " ") != "added/ci/ revoked/alice/leak reinstated/bob/ok" {
		t.Fatalf("audit trail in the database: %v", got)
	}
}
