package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Message size bounds for WithMaxMessageBytes.
const (
	// DefaultMaxMessageBytes is the largest message sent or received unless
	// WithMaxMessageBytes says otherwise; it is a node's default limit.
	DefaultMaxMessageBytes = 16 << 20
	minMaxMessageBytes     = 1 << 20
	maxMaxMessageBytes     = 1 << 30
)

// Client talks to one node's ContributorService. It is safe for concurrent
// use.
type Client struct {
	addr   string
	conn   *grpc.ClientConn
	api    cohortv1.ContributorServiceClient
	pks    provingKeys            // decoded proving keys, by content digest
	anchor *federation.Descriptor // the pinned federation; nil if none
	key    *BuyerKey              // signs job submissions (Buyer); nil if none
	cfg    dialConfig             // how this client dialled, to dial the other nodes the same way
}

// DialOption configures Dial.
type DialOption func(*dialConfig) error

type dialConfig struct {
	creds    credentials.TransportCredentials
	secured  int // transport options given
	maxBytes int
	anchor   *federation.Descriptor
	key      *BuyerKey
}

// WithCA authenticates the node with TLS 1.3 against the federation's CA
// certificates (PEM): the node's certificate must chain to one of them and
// name the host of the address dialled.
func WithCA(pem []byte) DialOption {
	return func(c *dialConfig) error {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("client: dial: no certificate in the CA file")
		}
		c.creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool})
		c.secured++
		return nil
	}
}

// WithInsecure talks to the node in plaintext, unauthenticated: anyone on
// the path can read what is sent and answer in the node's name. For tests
// and local development only. (Shares are sealed to their nodes and the
// proof reveals nothing, but the contributor's network address, its
// registration and its receipts are exposed, and a fake node could serve a
// fake dataset.)
func WithInsecure() DialOption {
	return func(c *dialConfig) error {
		c.creds = insecure.NewCredentials()
		c.secured++
		return nil
	}
}

// WithFederation pins the federation: its descriptor (federation.yaml, as
// federation.LoadDescriptor reads it), obtained from the federation itself
// and not from the node dialled. Every dataset descriptor the node serves
// must then name exactly its nodes' seal and signing keys
// (federation.Descriptor.CheckDataset), or it is refused with
// federation.ErrNotAnchored before anything is sealed to it or checked with
// it. Contribute requires it. It does not set the transport: pass WithCA
// (the descriptor's CA is d.CA) or WithInsecure as well.
func WithFederation(d *federation.Descriptor) DialOption {
	return func(c *dialConfig) error {
		if d == nil {
			return errors.New("client: dial: no federation descriptor")
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("client: dial: %w", err)
		}
		c.anchor = d
		return nil
	}
}

// WithMaxMessageBytes bounds each message sent or received, 1 MiB to 1 GiB
// (default DefaultMaxMessageBytes).
func WithMaxMessageBytes(n int) DialOption {
	return func(c *dialConfig) error {
		if n < minMaxMessageBytes || n > maxMaxMessageBytes {
			return fmt.Errorf("client: dial: message limit %d outside %d..%d", n, minMaxMessageBytes, maxMaxMessageBytes)
		}
		c.maxBytes = n
		return nil
	}
}

// Dial returns a client for the node at addr ("host:port"). Exactly one of
// WithCA and WithInsecure is required: there is no default transport. Like
// grpc.NewClient it does not connect; the first call does, and reports a
// node that cannot be reached or authenticated.
func Dial(addr string, opts ...DialOption) (*Client, error) {
	c := dialConfig{maxBytes: DefaultMaxMessageBytes}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.secured != 1 {
		return nil, errors.New("client: dial: give exactly one of WithCA (the federation's CA) and WithInsecure")
	}
	if addr == "" {
		return nil, errors.New("client: dial: no node address")
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(c.creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.maxBytes), grpc.MaxCallSendMsgSize(c.maxBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return &Client{addr: addr, conn: conn, api: cohortv1.NewContributorServiceClient(conn), anchor: c.anchor, key: c.key, cfg: c}, nil
}

// Address is the node address the client was dialled with.
func (c *Client) Address() string { return c.addr }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
