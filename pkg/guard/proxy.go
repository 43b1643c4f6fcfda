package guard

import (
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Headers the reverse proxy sets on requests to the upstream, from the
// verified claims. The same headers arriving from the client are removed
// first, so the upstream can trust them.
const (
	HeaderPackage = "X-TrustFuse-Package" // pkg
	HeaderRelease = "X-TrustFuse-Release" // rel
	HeaderVersion = "X-TrustFuse-Version" // ver
	HeaderSubject = "X-TrustFuse-Subject" // sub (device id hash)
)

// NewReverseProxy forwards requests to upstream (scheme, host and base
// path), adding X-Forwarded-* and the X-TrustFuse-* headers from the claims
// Middleware stored in the context; put it behind Middleware. The token
// header is passed on, so the upstream may check the token itself. An
// unreachable upstream is a bare 502, logged.
func NewReverseProxy(upstream *url.URL, logger *slog.Logger) *httputil.ReverseProxy {
	if logger == nil {
		logger = slog.Default()
	}
	// Go's default transport keeps 2 idle connections per host: under load
	// guard would open a new upstream connection for most requests
	// (scripts/bench-serve.sh measured 27,833 connections for 46,000
	// requests; with this pool, 32). Keep enough for the listener's load.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	return &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			for name := range pr.Out.Header {
				if strings.HasPrefix(name, "X-Trustfuse-") {
					pr.Out.Header.Del(name)
				}
			}
			if c, ok := ClaimsFrom(pr.In.Context()); ok {
				h := pr.Out.Header
				h.Set(HeaderPackage, c.Package)
				h.Set(HeaderSubject, c.Subject)
				if c.Release != "" {
					h.Set(HeaderRelease, string(c.Release))
				}
				if c.Version != "" {
					h.Set(HeaderVersion, string(c.Version))
				}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.LogAttrs(r.Context(), slog.LevelError, "guard: upstream failed",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}
