package redis

import "time"

// SetPubSubTiming shortens the health check and reconnect pauses of
// subscribe for a test; restore puts the defaults back.
func SetPubSubTiming(pingEvery, retryMin, retryMax time.Duration) (restore func()) {
	p, rmin, rmax := pubsubPingEvery, pubsubRetryMin, pubsubRetryMax
	pubsubPingEvery, pubsubRetryMin, pubsubRetryMax = pingEvery, retryMin, retryMax
	return func() { pubsubPingEvery, pubsubRetryMin, pubsubRetryMax = p, rmin, rmax }
}
