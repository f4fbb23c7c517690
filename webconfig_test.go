package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// serverHeaderTimeout is main.go's http.Server ReadHeaderTimeout.
const serverHeaderTimeout = serverReadHeaderTimeout

// selfSignedCert writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts the certificate.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "zoom_exporter test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startTLSExporter is startExporter for an exporter that serves HTTPS with
// basic auth: it waits for /-/ready through client.
func startTLSExporter(t *testing.T, client *http.Client, user, password string, env []string, args ...string) *exporterProcess {
	t.Helper()
	p := launchExporter(t, "https", env, args...)
	waitFor(t, 60*time.Second, "the TLS exporter to be ready", func() bool {
		resp, err := get(client, p.base+"/-/ready", user, password)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func get(client *http.Client, url, user, password string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return client.Do(req)
}

// TestWebConfigTLSAndBasicAuth serves the exporter through
// --web.config.file with TLS and basic auth: HTTPS with the right password
// works; without it, or with another, 401; plain HTTP is not served; a
// client that does not trust the certificate is refused.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  "+user+": "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	fake, clock := pinnedFake(zoomfake.Options{Seed: 5, Users: 3, HeavyUserMeetings: 20})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := fakeEnv(clock, zoomfake.DefaultClientSecret)
	args := fakeArgs(srv, "--web.config.file="+webConfig)

	check := exec.Command(binary, append(args, "--config.check")...)
	check.Env = append(os.Environ(), env...)
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "Configuration OK") {
		t.Fatalf("--config.check with the web config: %v\n%s", err, out)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p := startTLSExporter(t, client, user, password, env, args...)
	addr := strings.TrimPrefix(p.base, "https://")

	t.Run("https with the password", func(t *testing.T) {
		resp, err := get(client, p.base+"/metrics", user, password)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "zoom_up 1") {
			t.Errorf("HTTP %d:\n%.300s", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("TLS state %+v", resp.TLS)
		}
	})
	for _, tc := range []struct{ name, user, password string }{
		{"no credentials", "", ""},
		{"wrong password", user, "wrong"},
		{"unknown user", "mallory", password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/metrics", "/", "/-/ready", "/status"} {
				resp, err := get(client, p.base+path, tc.user, tc.password)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "zoom_") {
					t.Errorf("%s: HTTP %d, want 401:\n%.200s", path, resp.StatusCode, body)
				}
			}
		})
	}
	t.Run("plain http refused", func(t *testing.T) {
		resp, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/metrics", user, password)
		if err != nil {
			return // refused outright: fine
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "zoom_") {
			t.Errorf("plain HTTP served: HTTP %d:\n%.200s", resp.StatusCode, body)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, err := get(&http.Client{Timeout: 10 * time.Second}, p.base+"/metrics", user, password)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("a client without the CA: %v, want an unknown-authority error", err)
		}
	})
	t.Run("slow TLS handshake cut off", func(t *testing.T) {
		t.Parallel()
		// Half a TLS record header, then nothing.
		cutOff(t, addr, []byte{0x16, 0x03})
	})
	t.Run("slow headers after the handshake cut off", func(t *testing.T) {
		t.Parallel()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		waitClosed(t, conn, []byte("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthor"))
	})
}

// TestSlowClientCutOff opens a plain HTTP connection, sends half a request
// header and nothing more: the server must drop it within its
// ReadHeaderTimeout, so slow clients cannot hold connections open forever.
func TestSlowClientCutOff(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 6, Users: 2, HeavyUserMeetings: 10})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), fakeArgs(srv)...)
	addr := strings.TrimPrefix(p.base, "http://")
	t.Run("half a header", func(t *testing.T) {
		t.Parallel()
		cutOff(t, addr, []byte("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag"))
	})
	t.Run("nothing at all", func(t *testing.T) {
		t.Parallel()
		cutOff(t, addr, nil)
	})
}

func cutOff(t *testing.T, addr string, send []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, conn, send)
}

// waitClosed sends send on conn, then waits for the server to close it,
// which it must do within serverHeaderTimeout and a margin.
func waitClosed(t *testing.T, conn net.Conn, send []byte) {
	t.Helper()
	defer conn.Close()
	start := time.Now()
	if len(send) > 0 {
		if _, err := conn.Write(send); err != nil {
			t.Fatal(err)
		}
	}
	const margin = 5 * time.Second
	if err := conn.SetReadDeadline(start.Add(serverHeaderTimeout + margin)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, bufio.NewReader(conn)) // until the server closes
	took := time.Since(start)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the server still held the connection after %v (ReadHeaderTimeout %v)", took.Round(time.Millisecond), serverHeaderTimeout)
	}
	t.Logf("the server closed the connection after %v (ReadHeaderTimeout %v)", took.Round(time.Millisecond), serverHeaderTimeout)
}
