package webapp

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
)

// maxTasks bounds the tasks kept; the oldest finished ones are dropped.
const maxTasks = 64

// A task is long work (proving and uploading a record, following a job)
// that the page polls at GET /api/tasks/{id}.
type task struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`  // contribute, job, claim
	State  string `json:"state"` // running, done, failed
	Stage  string `json:"stage"` // the client's current stage (client.Stage…), or the job's state
	Done   int    `json:"done"`
	Total  int    `json:"total"`
	Result any    `json:"result,omitempty"`
	Error  *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error,omitempty"`
}

type tasks struct {
	mu    sync.Mutex
	byID  map[string]*task
	order []string
}

func newTasks() *tasks { return &tasks{byID: map[string]*task{}} }

// start registers a running task and runs f in its own goroutine; f
// reports progress through update and returns the result or an error.
func (ts *tasks) start(kind string, f func(update func(func(*task))) (any, error)) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	t := &task{ID: hex.EncodeToString(b[:]), Kind: kind, State: "running"}
	ts.mu.Lock()
	ts.byID[t.ID] = t
	ts.order = append(ts.order, t.ID)
	ts.prune()
	ts.mu.Unlock()
	update := func(fn func(*task)) {
		ts.mu.Lock()
		fn(t)
		ts.mu.Unlock()
	}
	go func() {
		res, err := f(update)
		update(func(t *task) {
			if err != nil {
				ae := toAPIError(err)
				t.State = "failed"
				t.Error = &struct {
					Message string `json:"message"`
					Code    string `json:"code"`
				}{ae.message, ae.code}
				if res != nil {
					t.Result = res
				}
				return
			}
			t.State, t.Result = "done", res
		})
	}()
	return t.ID, nil
}

// prune drops the oldest finished tasks beyond maxTasks; ts.mu is held.
func (ts *tasks) prune() {
	for i := 0; len(ts.order) > maxTasks && i < len(ts.order); {
		id := ts.order[i]
		if ts.byID[id].State == "running" {
			i++
			continue
		}
		delete(ts.byID, id)
		ts.order = append(ts.order[:i], ts.order[i+1:]...)
	}
}

// get returns a copy of the task.
func (ts *tasks) get(id string) (task, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.byID[id]
	if !ok {
		return task{}, false
	}
	return *t, true
}

func (s *Server) handleTask(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tasks.get(r.PathValue("id"))
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "no task %q (the app may have restarted)", r.PathValue("id")))
		return
	}
	writeJSON(w, t)
}
