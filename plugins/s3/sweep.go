package s3

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The sweep of incomplete multipart uploads.
//
// A put aborts its multipart upload whenever it fails, but a plugin that
// is killed (SIGKILL, the OOM killer, a lost machine) in the middle of a
// put cannot: its upload stays, invisible to list and get, and its parts
// are billed until something aborts it. A resource with
// abort_incomplete_after set sweeps its bucket for such uploads under its
// key_prefix when it is configured and then every sweepInterval, and
// aborts those initiated more than abort_incomplete_after ago, so that the
// plugin the host restarts cleans up after the one that died.
//
// A failing sweep does not fail the resource: it needs permissions the
// data path does not (s3:ListBucketMultipartUploads,
// s3:AbortMultipartUpload), and the bucket's objects are fine without it.
// It is logged (slog, which reaches the host's log), once per distinct
// error, and once when the sweep works again.

// sweepFloor is the shortest interval between two sweeps.
const sweepFloor = time.Second

// sweepCallTimeout bounds each request of a sweep.
const sweepCallTimeout = time.Minute

// sweepInterval is the time between two sweeps: half of
// abort_incomplete_after, so that an upload is aborted at most one and a
// half times abort_incomplete_after after it was initiated.
func sweepInterval(after time.Duration) time.Duration { return max(after/2, sweepFloor) }

// startSweep starts the resource's sweep when abort_incomplete_after is
// set; Close stops it and waits for it.
func (r *Resource) startSweep() {
	after := r.cfg.AbortIncompleteAfter
	if after <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop, done := make(chan struct{}), make(chan struct{})
	r.stopSweep = func() {
		close(stop)
		// A request under way may finish first: one canceled while its
		// connection is being dialed leaves that connection idle in the
		// client's pool, open until the server closes it.
		t := time.AfterFunc(sweepStopGrace, cancel)
		<-done
		t.Stop()
		cancel()
	}
	go func() {
		defer close(done)
		r.sweepLoop(ctx, stop, after)
	}()
}

// sweepStopGrace is how long Close lets a request of the sweep under way
// finish before it cancels it.
const sweepStopGrace = 2 * time.Second

// sweepLoop sweeps at once, then every sweepInterval(after), until stop
// is closed; ctx ends the requests.
func (r *Resource) sweepLoop(ctx context.Context, stop <-chan struct{}, after time.Duration) {
	log := slog.With("resource", r.name, "bucket", r.cfg.Bucket, "key_prefix", r.cfg.KeyPrefix)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var failing string // the error last logged; "" while the sweep works
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		aborted, err := r.sweep(ctx, stop, after)
		if stopped(stop) {
			return
		}
		if aborted > 0 {
			log.Info("s3: aborted incomplete multipart uploads older than abort_incomplete_after",
				"count", aborted, "abort_incomplete_after", after.String())
		}
		switch {
		case err != nil && err.Error() != failing:
			failing = err.Error()
			log.Warn("s3: the sweep of incomplete multipart uploads failed; it is tried again every "+sweepInterval(after).String(),
				"error", failing)
		case err == nil && failing != "":
			failing = ""
			log.Info("s3: the sweep of incomplete multipart uploads works again")
		}
		timer.Reset(sweepInterval(after))
	}
}

// sweep lists the bucket's multipart uploads under key_prefix and aborts
// those initiated more than after ago, by the server's clock where its
// answer tells it (so that a skewed local clock aborts nothing young),
// until stop is closed. It
// returns how many it aborted, and the error of the listing or of the
// first abort that failed (the others are tried all the same); an
// upload that is gone by the time of its abort (completed, or aborted by
// another sweep) is not an error.
func (r *Resource) sweep(ctx context.Context, stop <-chan struct{}, after time.Duration) (aborted int, err error) {
	in := &awss3.ListMultipartUploadsInput{Bucket: &r.cfg.Bucket, Prefix: optional(r.cfg.KeyPrefix)}
	pages := awss3.NewListMultipartUploadsPaginator(r.client, in)
	var first error // of the aborts that failed
	for pages.HasMorePages() && !stopped(stop) {
		cctx, cancel := context.WithTimeout(ctx, sweepCallTimeout)
		page, lerr := pages.NextPage(cctx)
		cancel()
		if lerr != nil {
			return aborted, errors.Join(first, r.wrap(ctx, lerr, "sweep: listing the incomplete multipart uploads"))
		}
		now, ok := awsmiddleware.GetServerTime(page.ResultMetadata)
		if !ok {
			now = time.Now()
		}
		for _, u := range page.Uploads {
			if stopped(stop) {
				return aborted, first
			}
			if u.Initiated == nil || u.Key == nil || u.UploadId == nil || now.Sub(*u.Initiated) <= after {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, sweepCallTimeout)
			_, aerr := r.client.AbortMultipartUpload(cctx, &awss3.AbortMultipartUploadInput{Bucket: &r.cfg.Bucket, Key: u.Key, UploadId: u.UploadId})
			cancel()
			switch werr := r.wrap(ctx, aerr, "sweep: aborting the upload of "+strconv.Quote(*u.Key)+" initiated "+u.Initiated.UTC().Format(time.RFC3339)); {
			case aerr == nil:
				aborted++
			case sdk.KindOf(werr) == sdk.KindNotFound:
			case ctx.Err() != nil:
				return aborted, werr
			case first == nil:
				first = werr
			}
		}
	}
	return aborted, first
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
