package main

import (
	"encoding/json"
	"testing"
)

// TestServeConfigPaths: relative paths and file: references move under the
// configuration's directory; absolute paths, URLs (a PostgreSQL registry)
// and env:/stdin references stay as written.
func TestServeConfigPaths(t *testing.T) {
	tests := []struct {
		name, registry, key, wantRegistry, wantKey string
	}{
		{"relative", "reg.db", "file:rk.hex", "/etc/tf/reg.db", "file:/etc/tf/rk.hex"},
		{"nested relative", "data/reg.db", "file:../keys/rk.hex", "/etc/tf/data/reg.db", "file:/etc/keys/rk.hex"},
		{"absolute", "/var/lib/tf/reg.db", "file:/run/secrets/rk", "/var/lib/tf/reg.db", "file:/run/secrets/rk"},
		{"postgres URL", "postgres://tf@db.internal:5432/tf?sslmode=verify-full", "env:TF_REGISTRY_KEY",
			"postgres://tf@db.internal:5432/tf?sslmode=verify-full", "env:TF_REGISTRY_KEY"},
		{"postgresql URL", "postgresql:///tf", "stdin", "postgresql:///tf", "stdin"},
		{"colon in a file name", "reg:v2.db", "pass:x", "/etc/tf/reg:v2.db", "pass:x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := serveConfig{Registry: tt.registry, RegistryKey: tt.key, SigningKey: "signing.pem", Redis: "redis://cache:6379/0"}
			sc.resolvePaths("/etc/tf")
			if sc.Registry != tt.wantRegistry || sc.RegistryKey != tt.wantKey {
				t.Errorf("registry %q key %q, want %q %q", sc.Registry, sc.RegistryKey, tt.wantRegistry, tt.wantKey)
			}
			if sc.SigningKey != "/etc/tf/signing.pem" || sc.Redis != "redis://cache:6379/0" {
				t.Errorf("signingKey %q redis %q", sc.SigningKey, sc.Redis)
			}
		})
	}
}

// TestServeConfigIssuerPaths: certificateIssuer's certificate path and
// file: key reference are relative to the configuration file too.
func TestServeConfigIssuerPaths(t *testing.T) {
	var sc serveConfig
	if err := json.Unmarshal([]byte(`{"certificateIssuer":{"cert":"pki/client-ca.pem","key":"file:pki/client-ca.key"}}`), &sc); err != nil {
		t.Fatal(err)
	}
	sc.resolvePaths("/etc/tf")
	if ci := sc.CertificateIssuer; ci.Cert != "/etc/tf/pki/client-ca.pem" || ci.Key != "file:/etc/tf/pki/client-ca.key" {
		t.Errorf("certificateIssuer = %+v, want both under /etc/tf/pki", *ci)
	}
	sc.CertificateIssuer.Key = "env:CA_KEY"
	sc.resolvePaths("/etc/tf")
	if sc.CertificateIssuer.Key != "env:CA_KEY" {
		t.Errorf("env reference changed to %q", sc.CertificateIssuer.Key)
	}
}
