package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestTranscripts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s Store, _ Config) {
		ctx := context.Background()
		mustPutDataset(t, s, "fitness")
		mustPutDataset(t, s, "other")
		tr := Transcript{ID: "job-1", DatasetID: "fitness", ReleasedAt: t0, CohortSize: 44, Bundle: []byte("bundle")}
		tr.Digest[0] = 1
		if err := s.PutTranscript(ctx, tr); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTranscript(ctx, tr); err != nil {
			t.Fatalf("identical put again: %v", err)
		}
		other := tr
		other.Digest[0] = 2
		if err := s.PutTranscript(ctx, other); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("same id, other digest: %v", err)
		}
		got, err := s.GetTranscript(ctx, "job-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tr.ID || got.DatasetID != tr.DatasetID || got.Digest != tr.Digest || !got.ReleasedAt.Equal(tr.ReleasedAt) ||
			got.CohortSize != 44 || !bytes.Equal(got.Bundle, tr.Bundle) {
			t.Fatalf("read back %+v, want %+v", got, tr)
		}
		for _, id := range []string{"job-2", "bad id"} {
			if _, err := s.GetTranscript(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("get %q: %v", id, err)
			}
		}
		bad := tr
		bad.ID, bad.DatasetID = "job-9", "missing"
		if err := s.PutTranscript(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown dataset: %v", err)
		}
		bad = tr
		bad.ID, bad.Bundle = "job-9", nil
		if err := s.PutTranscript(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("empty bundle: %v", err)
		}

		// Five more, one in another dataset; pages of two, newest first.
		for i := 2; i <= 6; i++ {
			x := Transcript{ID: fmt.Sprintf("job-%d", i), DatasetID: "fitness", ReleasedAt: t0.Add(time.Duration(i) * time.Minute),
				CohortSize: uint64(i), Bundle: []byte{byte(i)}}
			if i == 4 {
				x.DatasetID = "other"
			}
			if err := s.PutTranscript(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		tok := ""
		for page := 0; ; page++ {
			list, next, err := s.ListTranscripts(ctx, "fitness", tok, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range list {
				if x.Bundle != nil {
					t.Errorf("listing carries the bundle of %s", x.ID)
				}
				ids = append(ids, x.ID)
			}
			if next == "" {
				break
			}
			if page > 5 {
				t.Fatal("paging does not end")
			}
			tok = next
		}
		if fmt.Sprint(ids) != "[job-6 job-5 job-3 job-2 job-1]" {
			t.Errorf("listed %v", ids)
		}
		if _, _, err := s.ListTranscripts(ctx, "fitness", "%%%", 2); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad token: %v", err)
		}
	})
}
