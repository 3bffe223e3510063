package client

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client/clienttest"
)

func TestDialOptions(t *testing.T) {
	cases := map[string][]DialOption{
		"no transport":    nil,
		"both transports": {WithInsecure(), WithCA(testCA(t))},
		"empty CA":        {WithCA([]byte("not a certificate"))},
		"tiny limit":      {WithInsecure(), WithMaxMessageBytes(1000)},
		"huge limit":      {WithInsecure(), WithMaxMessageBytes(2 << 30)},
	}
	for name, opts := range cases {
		if c, err := Dial("127.0.0.1:1", opts...); err == nil {
			c.Close()
			t.Errorf("%s: Dial succeeded", name)
		}
	}
	if _, err := Dial("", WithInsecure()); err == nil {
		t.Error("empty address accepted")
	}
}

// testCA is a CA certificate that is not any fake federation's.
func testCA(t *testing.T) []byte {
	t.Helper()
	return clienttest.New(t, clienttest.Options{TLS: true}).CAPEM
}

func TestDialTLS(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{TLS: true})
	ctx := testContext(t)
	id := f.Dataset.Desc.GetId()

	c, err := Dial(f.Addr, WithCA(f.CAPEM), WithMaxMessageBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Dataset(ctx, id); err != nil {
		t.Fatalf("over TLS with the federation's CA: %v", err)
	}

	other, err := Dial(f.Addr, WithCA(testCA(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.Dataset(ctx, id)
	var re *RPCError
	if !errors.As(err, &re) || status.Code(err) != codes.Unavailable {
		t.Fatalf("with another CA: %v, want Unavailable", err)
	}

	plain, err := Dial(f.Addr, WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Dataset(ctx, id); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext to a TLS node: %v, want Unavailable", err)
	}
}

func TestDatasetNotFound(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	ctx := testContext(t)
	if _, err := c.Dataset(ctx, "no-such-dataset"); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown dataset: %v", err)
	}
	if _, err := c.Dataset(ctx, "Bad_ID"); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("invalid id: %v", err)
	}
	ds, err := c.Dataset(ctx, f.Dataset.Desc.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Ready() || ds.VK == nil || len(ds.Signing) != 3 {
		t.Fatalf("dataset %v", ds.Desc)
	}
}
