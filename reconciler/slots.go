package reconciler

import "context"

// slots bound how many clusters are read and written at once: a slot is
// held while connecting, listing, applying and pruning, never while waiting
// for health, a dependency or a timer.
type slots chan struct{}

// take takes a slot, unless ctx ends first or has ended: a pass that a
// newer target superseded never applies, even when a slot is free.
func (s slots) take(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		<-s
		return err
	}
	return nil
}

// give returns a slot.
func (s slots) give() { <-s }

// turn is a pass over one cluster holding the slot it opened the cluster
// with, which its first tier to apply takes over: a cluster whose turn came
// applies at once, rather than queueing again behind the others.
type turn struct {
	slots slots
	held  chan struct{}
}

// begin takes a slot for a pass over a cluster.
func (s slots) begin(ctx context.Context) (*turn, error) {
	if err := s.take(ctx); err != nil {
		return nil, err
	}
	t := &turn{slots: s, held: make(chan struct{}, 1)}
	t.held <- struct{}{}
	return t, nil
}

// take takes the pass's held slot, or else a new one, unless ctx has
// ended.
func (t *turn) take(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-t.held:
		return nil
	default:
		return t.slots.take(ctx)
	}
}

// give returns a slot taken with take.
func (t *turn) give() { t.slots.give() }

// end returns the held slot if no tier took it.
func (t *turn) end() {
	select {
	case <-t.held:
		t.slots.give()
	default:
	}
}

// slot is one tier pass's hold on a slot of its turn, given up while it
// waits and taken again after.
type slot struct {
	turn *turn
	held bool
}

// take holds a slot, unless ctx ends first; holding one already, it
// returns at once.
func (s *slot) take(ctx context.Context) error {
	if s.held {
		return nil
	}
	if err := s.turn.take(ctx); err != nil {
		return err
	}
	s.held = true
	return nil
}

// give gives up the slot held, if any.
func (s *slot) give() {
	if s.held {
		s.turn.give()
		s.held = false
	}
}
