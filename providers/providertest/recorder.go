package providertest

import "sync"

// Recorder is the bookkeeping every fake platform needs: a record of calls and a pending
// injected failure. Fakes embed it and so implement most of Platform.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
	fail  Failure
}

// Record stores one call.
func (r *Recorder) Record(method string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: method, Body: append([]byte(nil), body...)})
}

// Calls returns a copy of the recorded calls.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// CallsTo returns the recorded calls of one method.
func (r *Recorder) CallsTo(method string) []Call {
	var out []Call
	for _, c := range r.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets calls and the pending failure.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls, r.fail = nil, 0
}

// FailNext arms a failure for the next send call.
func (r *Recorder) FailNext(f Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

// TakeFailure returns and clears the pending failure (0 when none). A fake calls it in its
// send handlers.
func (r *Recorder) TakeFailure() Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.fail
	r.fail = 0
	return f
}
