package member_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// testCA writes a CA and a member certificate signed by it into dir and
// returns the three file names (cert, key, CA).
func testCA(t *testing.T, dir, name string) (string, string, string) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey, leafKey := key(), key()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " member"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	require.NoError(t, err)
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, name+"-"+file)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

// With certificate files, the transport speaks TLS with both sides
// authenticated: members with certificates of the cluster's CA talk, a
// plain connection gets no weir handshake, and a member whose certificate
// another CA signed is refused.
func TestTransportTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key, ca := testCA(t, dir, "cluster")
	base := clustertest.Config(t)
	base.TLSCertFile, base.TLSKeyFile, base.TLSCAFile = cert, key, ca
	c := clustertest.Start(t, 2, base)
	a, b := c.Members()[0], c.Members()[1]
	member.HostOf(b).Handle("test.tls", func(_ context.Context, r *member.Request) ([]byte, error) { return r.Payload, nil })
	out, err := member.HostOf(a).Call(ctxT(t, 10*time.Second), b.ID(), "test.tls", []byte("over TLS"))
	require.NoError(t, err)
	require.Equal(t, "over TLS", string(out))

	// A plain-text hello is not understood: the first bytes must be a TLS
	// ClientHello.
	nc, err := net.Dial("tcp", b.TransportAddr())
	require.NoError(t, err)
	_, _ = nc.Write(handshakeFrame([]byte{0x80}))
	waitClosed(t, nc, 10*time.Second)

	// A member with a certificate of another CA cannot call in.
	ocert, okey, oca := testCA(t, dir, "other")
	cfg := clustertest.Config(t)
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = ocert, okey, oca
	cfg.Join = []string{a.Addr()}
	cfg.Lite = true
	stranger, err := member.Start(ctxT(t, 20*time.Second), cfg)
	if err == nil {
		stranger.Shutdown(context.Background())
	}
	require.ErrorIs(t, err, member.ErrJoin, "a member with a certificate of another CA does not start")
	require.ErrorIs(t, err, member.ErrRefused)
	require.ErrorContains(t, err, "certificate")

	cfg = clustertest.Config(t)
	cfg.TLSCertFile = cert
	require.ErrorContains(t, cfg.Validate(), "all three or none")
}
