package pool

// deque is a double-ended queue on a ring buffer. It grows by doubling and
// never shrinks, so a pool that has reached its size stops allocating.
type deque[T any] struct {
	buf        []T
	head, size int
}

func (d *deque[T]) len() int { return d.size }

func (d *deque[T]) grow() {
	n := max(4, 2*len(d.buf))
	buf := make([]T, n)
	for i := range d.size {
		buf[i] = d.buf[(d.head+i)%len(d.buf)]
	}
	d.buf, d.head = buf, 0
}

func (d *deque[T]) pushBack(v T) {
	if d.size == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.size)%len(d.buf)] = v
	d.size++
}

func (d *deque[T]) popBack() T {
	var zero T
	i := (d.head + d.size - 1) % len(d.buf)
	v := d.buf[i]
	d.buf[i] = zero
	d.size--
	return v
}

func (d *deque[T]) popFront() T {
	var zero T
	v := d.buf[d.head]
	d.buf[d.head] = zero
	d.head = (d.head + 1) % len(d.buf)
	d.size--
	return v
}

// at returns the i-th element from the front.
func (d *deque[T]) at(i int) T { return d.buf[(d.head+i)%len(d.buf)] }

// filter keeps the elements for which keep returns true, in order.
func (d *deque[T]) filter(keep func(T) bool) {
	var zero T
	n := 0
	for i := range d.size {
		v := d.at(i)
		if keep(v) {
			d.buf[(d.head+n)%len(d.buf)] = v
			n++
		}
	}
	for i := n; i < d.size; i++ {
		d.buf[(d.head+i)%len(d.buf)] = zero
	}
	d.size = n
}
