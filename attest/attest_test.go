package attest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := ContributionAck{DatasetID: "fitness", Node: 2, StoredAt: 1700000000}
	a.Nullifier[0], a.PayloadDigest[31] = 1, 2
	sig := Sign(key, a)
	if err := Verify(pub, a, sig); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Node = 1
	if err := Verify(pub, b, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ack for another node verified: %v", err)
	}
	r := Revocation{DatasetID: a.DatasetID, Nullifier: a.Nullifier, RevokedAt: a.StoredAt}
	if err := Verify(pub, r, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ack signature verified as a revocation: %v", err)
	}
	if err := Verify(pub, a, sig[:10]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("short signature: %v", err)
	}
}

// Length prefixes keep field boundaries: moving bytes between two
// variable-length fields changes the message.
func TestInjective(t *testing.T) {
	x := CeremonyStart{CeremonyID: "ab", DatasetID: "c"}
	y := CeremonyStart{CeremonyID: "a", DatasetID: "bc"}
	if bytes.Equal(x.Message(), y.Message()) {
		t.Fatal("distinct statements encode alike")
	}
	p := CeremonyStart{Participants: []uint32{1}, BeaconSource: ""}
	q := CeremonyStart{Participants: nil, BeaconSource: "\x00\x00\x00\x01"}
	if bytes.Equal(p.Message(), q.Message()) {
		t.Fatal("participants and beacon source run together")
	}
}

// Every field of a job statement is signed: changing any one of them makes
// the signature fail.
func TestJobStatements(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	set := JobEligibleSet{JobID: "job-1", DatasetID: "fitness", JobTime: 1700000000, Cohort: 50, Node: 1}
	set.SpecDigest[0], set.SetDigest[0] = 1, 2
	sig := Sign(key, set)
	for name, change := range map[string]func(*JobEligibleSet){
		"job":    func(s *JobEligibleSet) { s.JobID = "job-2" },
		"spec":   func(s *JobEligibleSet) { s.SpecDigest[1] = 9 },
		"time":   func(s *JobEligibleSet) { s.JobTime++ },
		"cohort": func(s *JobEligibleSet) { s.Cohort-- },
		"digest": func(s *JobEligibleSet) { s.SetDigest[31] = 9 },
		"node":   func(s *JobEligibleSet) { s.Node = 0 },
	} {
		s := set
		change(&s)
		if err := Verify(pub, s, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("eligible set with another %s verified: %v", name, err)
		}
	}
	p := JobPartial{JobID: "job-1", SetDigest: set.SetDigest, Coordinates: []uint32{0, 3}, Node: 1}
	psig := Sign(key, p)
	if err := Verify(pub, p, psig); err != nil {
		t.Fatal(err)
	}
	q := p
	q.Coordinates = []uint32{0, 4}
	if err := Verify(pub, q, psig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("partial with other coordinates verified: %v", err)
	}
	q = p
	q.PartialDigest[0] = 1
	if err := Verify(pub, q, psig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("partial with another digest verified: %v", err)
	}
}

// Every field of the key-generation statement is signed.
func TestHEKeygenStatement(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := HEKeygen{DatasetID: "fitness", ParamSet: "bgv-n12-q109", Threshold: 2, Nodes: 3}
	h.CRSSeed[0], h.PublicKeyDigest[0] = 1, 2
	sig := Sign(key, h)
	if err := Verify(pub, h, sig); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*HEKeygen){
		"dataset":     func(x *HEKeygen) { x.DatasetID = "other" },
		"param set":   func(x *HEKeygen) { x.ParamSet = "bgv-n13-q218" },
		"threshold":   func(x *HEKeygen) { x.Threshold = 3 },
		"nodes":       func(x *HEKeygen) { x.Nodes = 4 },
		"crs":         func(x *HEKeygen) { x.CRSSeed[0] = 9 },
		"public key":  func(x *HEKeygen) { x.PublicKeyDigest[0] = 9 },
		"commitments": func(x *HEKeygen) { x.CommitmentsDigest[0] = 9 },
	} {
		x := h
		change(&x)
		if err := Verify(pub, x, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

// Every field of a privacy debit is signed, each ledger entry's included.
func TestPrivacyDebitStatement(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := PrivacyDebit{JobID: "job-1", DatasetID: "fitness", Buyer: "lab", Rho: "1/4", Node: 2, Entries: []LedgerEntry{
		{Epoch: 7, EpochTotal: "1", EpochBefore: "0", EpochAfter: "1/4", BuyerTotal: "1/2", BuyerBefore: "0", BuyerAfter: "1/4"},
		{Epoch: 8, EpochTotal: "1", EpochBefore: "1/2", EpochAfter: "3/4", BuyerTotal: "1/2", BuyerBefore: "0", BuyerAfter: "1/4"},
	}}
	sig := Sign(key, d)
	if err := Verify(pub, d, sig); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*PrivacyDebit){
		"job":           func(d *PrivacyDebit) { d.JobID = "job-2" },
		"dataset":       func(d *PrivacyDebit) { d.DatasetID = "other" },
		"buyer":         func(d *PrivacyDebit) { d.Buyer = "lab2" },
		"rho":           func(d *PrivacyDebit) { d.Rho = "1/8" },
		"node":          func(d *PrivacyDebit) { d.Node = 1 },
		"epoch":         func(d *PrivacyDebit) { d.Entries[1].Epoch = 9 },
		"epoch total":   func(d *PrivacyDebit) { d.Entries[0].EpochTotal = "2" },
		"epoch before":  func(d *PrivacyDebit) { d.Entries[1].EpochBefore = "0" },
		"epoch after":   func(d *PrivacyDebit) { d.Entries[1].EpochAfter = "1/2" },
		"buyer total":   func(d *PrivacyDebit) { d.Entries[0].BuyerTotal = "1" },
		"buyer before":  func(d *PrivacyDebit) { d.Entries[0].BuyerBefore = "1/8" },
		"buyer after":   func(d *PrivacyDebit) { d.Entries[0].BuyerAfter = "3/8" },
		"entry dropped": func(d *PrivacyDebit) { d.Entries = d.Entries[:1] },
	} {
		c := d
		c.Entries = append([]LedgerEntry(nil), d.Entries...)
		change(&c)
		if err := Verify(pub, c, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed, signature still verifies: %v", name, err)
		}
	}
}

// Every field of a key-generation commitment is signed, and the signature
// is not one over the key itself.
func TestHEKeygenCommitStatement(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := HEKeygenCommit{DatasetID: "fitness", Node: 1}
	c.CRSSeed[0], c.Commitment[0] = 1, 2
	sig := Sign(key, c)
	if err := Verify(pub, c, sig); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*HEKeygenCommit){
		"dataset":    func(x *HEKeygenCommit) { x.DatasetID = "other" },
		"crs":        func(x *HEKeygenCommit) { x.CRSSeed[0] = 9 },
		"node":       func(x *HEKeygenCommit) { x.Node = 2 },
		"commitment": func(x *HEKeygenCommit) { x.Commitment[31] = 9 },
	} {
		x := c
		change(&x)
		if err := Verify(pub, x, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed, signature still verifies: %v", name, err)
		}
	}
	h := HEKeygen{DatasetID: c.DatasetID, CRSSeed: c.CRSSeed, PublicKeyDigest: c.Commitment}
	if err := Verify(pub, h, sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a commitment's signature verified as a key-generation statement: %v", err)
	}
}

// TestJobSubmissionStatement: every field of a buyer's submission changes
// the signed message and the job id it names, and the id is stable.
func TestJobSubmissionStatement(t *testing.T) {
	base := JobSubmission{Buyer: "lab-1", RequestID: "req-1", DatasetID: "fitness", SubmittedAt: 1_800_000_000}
	base.DescriptorDigest[0], base.SpecDigest[0] = 1, 2
	if id := base.JobID(); id != base.JobID() || len(id) != len("job-")+32 {
		t.Fatalf("job id %q", id)
	}
	for name, edit := range map[string]func(*JobSubmission){
		"buyer":             func(j *JobSubmission) { j.Buyer = "lab-2" },
		"request id":        func(j *JobSubmission) { j.RequestID = "req-2" },
		"dataset":           func(j *JobSubmission) { j.DatasetID = "other" },
		"descriptor digest": func(j *JobSubmission) { j.DescriptorDigest[31] = 1 },
		"spec digest":       func(j *JobSubmission) { j.SpecDigest[31] = 1 },
		"time":              func(j *JobSubmission) { j.SubmittedAt++ },
	} {
		j := base
		edit(&j)
		if bytes.Equal(j.Message(), base.Message()) || j.JobID() == base.JobID() {
			t.Errorf("%s: the message or the job id does not change", name)
		}
	}
	if !bytes.HasPrefix(base.Message(), []byte(TagJobSubmission+"\x00")) {
		t.Error("the message does not start with its tag")
	}
}

// Every field of the key request, READY and ceremony-contribution
// statements is signed, and no signature verifies as another statement.
func TestFederationStatements(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := NodeKeyRequest{Federation: "cohort", Index: 1, Name: "node-1", APIAddress: "a:1", PeerAddress: "a:2",
		SealPublicKey: []byte{1}, SigningPublicKey: []byte{2}, CSR: []byte{3}}
	ready := DatasetReady{DatasetID: "fitness"}
	ready.DescriptorDigest[0] = 1
	contrib := CeremonyContribution{CeremonyID: "c-1", Phase: 1, Position: 2, Node: 2}
	contrib.Digest[0] = 1
	cases := map[string]struct {
		s       Statement
		changed []Statement
	}{
		"key request": {req, []Statement{
			func() Statement { x := req; x.Federation = "other"; return x }(),
			func() Statement { x := req; x.Index = 2; return x }(),
			func() Statement { x := req; x.Name = "node-2"; return x }(),
			func() Statement { x := req; x.APIAddress = "b:1"; return x }(),
			func() Statement { x := req; x.PeerAddress = "b:2"; return x }(),
			func() Statement { x := req; x.SealPublicKey = []byte{9}; return x }(),
			func() Statement { x := req; x.SigningPublicKey = []byte{9}; return x }(),
			func() Statement { x := req; x.CSR = []byte{9}; return x }(),
		}},
		"dataset ready": {ready, []Statement{
			func() Statement { x := ready; x.DatasetID = "other"; return x }(),
			func() Statement { x := ready; x.DescriptorDigest[31] = 9; return x }(),
		}},
		"ceremony contribution": {contrib, []Statement{
			func() Statement { x := contrib; x.CeremonyID = "c-2"; return x }(),
			func() Statement { x := contrib; x.Phase = 2; return x }(),
			func() Statement { x := contrib; x.Position = 0; return x }(),
			func() Statement { x := contrib; x.Node = 0; return x }(),
			func() Statement { x := contrib; x.Digest[31] = 9; return x }(),
		}},
	}
	for name, c := range cases {
		sig := Sign(key, c.s)
		if err := Verify(pub, c.s, sig); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, x := range c.changed {
			if err := Verify(pub, x, sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("%s: change %d still verifies: %v", name, i, err)
			}
		}
		for other, o := range cases {
			if other != name && bytes.Equal(o.s.Message(), c.s.Message()) {
				t.Errorf("%s encodes as %s", name, other)
			}
		}
	}
}

// A claim-keys statement binds its ceremony and record digest, and is no
// other statement.
func TestClaimKeysStatement(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := ClaimKeys{CeremonyID: "claims-01"}
	c.RecordDigest[0] = 1
	sig := Sign(key, c)
	if err := Verify(pub, c, sig); err != nil {
		t.Fatal(err)
	}
	other := c
	other.RecordDigest[31] = 1
	if err := Verify(pub, other, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another record digest verified: %v", err)
	}
	other = c
	other.CeremonyID = "claims-02"
	if err := Verify(pub, other, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another ceremony verified: %v", err)
	}
	if !bytes.HasPrefix(c.Message(), []byte(TagClaimKeys+"\x00")) {
		t.Fatal("the statement does not start with its tag")
	}
	if err := Verify(pub, DatasetReady{DatasetID: c.CeremonyID, DescriptorDigest: c.RecordDigest}, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a claim-keys signature verified as a READY signature: %v", err)
	}
}

func TestPayoutTransferBindsEveryField(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := PayoutTransfer{BuyerID: "acme", Amount: 5, TransferID: "t-1"}
	p.PayoutKey[0] = 1
	sig := Sign(key, p)
	if err := Verify(pub, p, sig); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*PayoutTransfer){
		"payout key":  func(p *PayoutTransfer) { p.PayoutKey[31] = 1 },
		"buyer":       func(p *PayoutTransfer) { p.BuyerID = "acme2" },
		"amount":      func(p *PayoutTransfer) { p.Amount = 6 },
		"transfer id": func(p *PayoutTransfer) { p.TransferID = "t-2" },
	} {
		other := p
		edit(&other)
		if err := Verify(pub, other, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("another %s verified: %v", name, err)
		}
	}
	if !bytes.HasPrefix(p.Message(), []byte(TagPayoutTransfer+"\x00")) {
		t.Fatal("the transfer does not start with its tag")
	}
}

func TestPayoutStatementBindsEveryField(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := PayoutStatement{Credited: 9, Transferred: 4, Balance: 5, Claims: 3, At: 1_790_000_000, Node: 2}
	s.PayoutKey[0] = 1
	sig := Sign(key, s)
	if err := Verify(pub, s, sig); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*PayoutStatement){
		"payout key":  func(s *PayoutStatement) { s.PayoutKey[31] = 1 },
		"credited":    func(s *PayoutStatement) { s.Credited++ },
		"transferred": func(s *PayoutStatement) { s.Transferred++ },
		"balance":     func(s *PayoutStatement) { s.Balance++ },
		"claims":      func(s *PayoutStatement) { s.Claims++ },
		"time":        func(s *PayoutStatement) { s.At++ },
		"node":        func(s *PayoutStatement) { s.Node++ },
	} {
		other := s
		edit(&other)
		if err := Verify(pub, other, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("another %s verified: %v", name, err)
		}
	}
	if !bytes.HasPrefix(s.Message(), []byte(TagPayoutStatement+"\x00")) {
		t.Fatal("the statement does not start with its tag")
	}
}
