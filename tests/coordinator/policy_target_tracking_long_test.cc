// TargetTracking for seconds-long requests (longer than half the panic window: LLM answers): the
// stable window's Poisson headroom, the rise margin, what the scale-down delay remembers of their
// short windows, the clear fall, the deep fall and the slow fall. (Their panic:
// policy_target_tracking_long_panic_test.cc; reversals of scale-downs that took effect:
// FlapDampingTest in policy_target_tracking_test.cc.)
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "lagscale/coordinator/policy.h"
#include "support/policy_target_tracking.h"

namespace lagscale::coordinator {
namespace {

using testing::FakeDemand;
using testing::LongRequestsTest;

// The headroom: at a steady rate the requests in flight vary by the square root of their mean
// (Poisson), and a clump of requests that take seconds holds its slots for seconds. 12 in flight
// is 12 replicas at target 1 for 0.1 s requests, 16 for 6 s ones (12 + 3.46).
TEST_F(LongRequestsTest, AreSizedWithOnePoissonDeviationOfHeadroom) {
  demand_.Steady(12, 120);
  EXPECT_EQ(Decide(0, 12).desired, 12);
  FakeDemand llm;
  llm.Steady(12, 2);
  policy_.reset();
  const Decision d = Decide(llm, 0, 12);
  EXPECT_EQ(d.desired, 16) << d.reason;
  EXPECT_EQ(d.direction, Direction::kUp);
}

// Requests held open with no new arrivals do not vary: the headroom is the arrivals' noise, so
// it is none (a model with 5 long streams open keeps 5 replicas at target 1; 8 -> 5 is a deep
// fall, which waits out 120 s).
TEST_F(LongRequestsTest, HeldOpenWithoutArrivalsGetNoHeadroom) {
  demand_.Steady(5, 5.0 / 6);  // learned: 6 s per request
  ASSERT_EQ(Decide(0, 5).desired, 8);
  demand_.stable_rate = demand_.short_rate = 0;  // the same 5, nothing new
  EXPECT_EQ(Decide(121, 8).desired, 5);
}

// Their short windows are remembered net of noise, like short requests': their clumps are what
// the headroom is for. 3 arrivals over 2 s of 6 s requests read as is are 9 in flight; net of
// one standard deviation 3.8, which holds nothing.
TEST_F(LongRequestsTest, NoiseInTheShortWindowIsNotRemembered) {
  demand_.Steady(4, 4.0 / 6);
  ASSERT_EQ(Decide(0, 6).desired, 6);  // 4 in flight plus 2 of headroom
  demand_.Steady(3, 0.5);
  demand_.short_rate = 1.5;
  demand_.short_concurrency = 3;
  const Decision d = Decide(61, 6);
  EXPECT_EQ(d.desired, 5) << d.reason;  // 3 plus 1.7 of headroom
  EXPECT_EQ(d.direction, Direction::kDown);
}

// The stable window's own noise: 30 s of 2/s hold 60 arrivals, so its average concurrency varies
// by 1/sqrt(60), 13 %. 12 in flight of 6 s answers hold 16 replicas (12 + 3.5 of headroom); a
// window that reads 14.5 at the same rate, as the window before it did, asks for 18.3, above the
// band's 17.6 by less than 14.5 / sqrt(60) = 1.9. Scaling up on it, and down only after the
// delay, would ratchet the count up on noise.
class RiseMarginTest : public LongRequestsTest {
 protected:
  RiseMarginTest() { demand_.trend_window_s = 2 * config_.tracking.stable_window_s; }
  // After a steady 12 at 2/s (16 replicas), the stable window reads 14.5 at 2/s; the window
  // before it read `before`.
  Decision HighReading(double before) {
    demand_.Steady(12, 2);
    demand_.trend_concurrency = 12;
    EXPECT_EQ(Decide(0, 16).desired, 16);
    demand_.Steady(14.5, 2);
    demand_.trend_concurrency = (before + 14.5) / 2;
    return Decide(20, 16);
  }
};

TEST_F(RiseMarginTest, AReadingWithinTheWindowsNoiseHolds) {
  const Decision d = HighReading(14.5);
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_NE(d.reason.find("for the window's noise"), std::string::npos) << d.reason;
}

// The same reading when the window before read 10: a rise of 4.5, beyond the noise of the
// difference (1.9 x sqrt(2)), faster arrivals or longer answers. It scales up at once.
TEST_F(RiseMarginTest, ARiseBeyondNoiseScalesUpAtOnce) {
  const Decision d = HighReading(10);
  EXPECT_EQ(d.direction, Direction::kUp) << d.reason;
  EXPECT_GE(d.desired, 18) << d.reason;
}

// 6 s answers at 6/s (36 in flight, 42 replicas with the headroom); then the rate falls to 2/s.
// The stable window reads 2/s and 12 in flight, the two stable windows ending now 4/s on average.
class ClearFallTest : public LongRequestsTest {
 protected:
  ClearFallTest() { config_.tracking.max_scale_down_rate = 100; }

  void Steady(double rate, double seconds_per_request) {
    demand_.trend_window_s = 2 * config_.tracking.stable_window_s;
    demand_.Steady(rate * seconds_per_request, rate);
    demand_.trend_rate = rate;
  }
  void FallFrom(double from, double to, double seconds_per_request) {
    demand_.Steady(to * seconds_per_request, to);
    demand_.trend_rate = (from + to) / 2;
  }
  // 6/s of 6 s answers (42 replicas) decided at 0, then the fall to `to`/s decided at 20 s.
  Decision FallFromSix(double to) {
    Steady(6, 6);
    EXPECT_EQ(Decide(0, 42).desired, 42);
    FallFrom(6, to, 6);
    return Decide(20, 42);
  }
  // 2/s of 6 s answers (16 replicas) decided at 0, then 6/s decided at each time of `at`: the
  // count it reached.
  int RiseFromTwoToSix(std::initializer_list<double> at) {
    Steady(2, 6);
    EXPECT_EQ(Decide(0, 16).desired, 16);
    Steady(6, 6);
    int current = 16;
    for (const double t : at) current = Decide(t, current).desired;
    return current;
  }
};

// 180 arrivals in the window before, 60 in the last: 120 fewer, 7.7 standard deviations of their
// difference. The replicas go at once, down to what the stable window asks (12 + 3.5), raised by
// one standard deviation of the window's own noise (12 / sqrt(60) = 1.5): every decision of a
// clear fall reads a new window, and stepping down to each reading would end on the lowest.
TEST_F(ClearFallTest, StepsDownWithoutTheDelay) {
  const Decision d = FallFromSix(2);
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
  EXPECT_EQ(d.desired, 17);
  EXPECT_NE(d.reason.find("arrivals fell"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("(+1.5 for the window's noise)"), std::string::npos) << d.reason;
}

// A window that reads 2 standard deviations low during a fall to 2/s (45 arrivals and 9 in
// flight where 60 and 12 are the mean) asks for 14 replicas, not the 12 it reads: 9 + 3 of
// headroom + 1.3 for its noise (9 / sqrt(45)). The load needs 17; without the margin a fall would
// end 5 replicas under it, on its lowest reading.
TEST_F(ClearFallTest, ALowReadingIsRaisedByItsNoise) {
  const Decision d = FallFromSix(1.5);
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
  EXPECT_EQ(d.desired, 14) << d.reason;
}

// The same shape for 0.1 s requests keeps the delay: a square wave's low phase is a clear fall
// too, and for short requests the hold is what spares it a reversal at every edge.
TEST_F(ClearFallTest, ShortRequestsKeepTheDelay) {
  Steady(360, 0.1);
  ASSERT_EQ(Decide(0, 36).desired, 36);
  FallFrom(360, 120, 0.1);
  const Decision d = Decide(20, 36);
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_EQ(Decide(61, 36).desired, 12);
}

// 6/s to 5.5/s is within the noise of 30 s of arrivals (15 fewer, 1.3 standard deviations): the
// delay holds.
TEST_F(ClearFallTest, WithinTheArrivalsNoiseKeepsTheDelay) {
  Steady(6, 6);
  ASSERT_EQ(Decide(0, 42).desired, 42);
  FallFrom(6, 5, 6);
  EXPECT_EQ(Decide(20, 42).direction, Direction::kHold);
}

// The load a clear fall let go of came back (a square wave of seconds-long requests): from then
// on the delay holds falls as for any load, until it relaxes (600 s without a reversal). (The
// second fall comes after the flap window, so that the rise from 16 is not what holds it, and goes
// lower than the first, to a rate not seen before, so that a later test's rule does not either.)
TEST_F(ClearFallTest, OnceReversedTheDelayHoldsTheNextFall) {
  Steady(6, 6);
  ASSERT_EQ(Decide(0, 42).desired, 42);
  FallFrom(6, 2, 6);
  ASSERT_EQ(Decide(20, 42).desired, 17);
  Steady(6, 6);
  ASSERT_EQ(Decide(40, 17).direction, Direction::kUp);  // the reversal
  for (double t = 50; t < 350; t += 10) ASSERT_EQ(Decide(t, 42).desired, 42);
  FallFrom(6, 1, 6);
  const Decision d = Decide(350, 42);
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_EQ(d.reason.find("arrivals fell"), std::string::npos) << d.reason;
}

// A clear fall to a rate the arrivals had within the flap window (300 s) is an oscillation's low
// phase (a square wave of 6 s answers): the delay holds it, and the replicas are there when the
// load comes back. The reason says why the fall did not go at once.
TEST_F(ClearFallTest, AFallToARateSeenWithinTheFlapWindowIsHeld) {
  const int high = RiseFromTwoToSix({100, 140});
  ASSERT_GE(high, 42);
  FallFrom(6, 2, 6);
  const Decision d = Decide(170, high);
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_NE(d.reason.find("arrivals fell to a rate seen within 300s"), std::string::npos)
      << d.reason;
  EXPECT_EQ(d.reason.find("down without the delay"), std::string::npos) << d.reason;
}

// The same fall once the low rate is older than the flap window (llm_step: 6 -> 2 rps 360 s
// after its rise) is the end of a load: it goes at once. So is a fall to a rate within noise of
// the one seen but lower beyond kSeenMargin deviations (2 -> 1/s here: 60 against 30 arrivals,
// 3.2 standard deviations).
TEST_F(ClearFallTest, AFallBelowEveryRateOfTheFlapWindowStillGoesAtOnce) {
  int current = RiseFromTwoToSix({60, 120, 180, 240, 300, 360});
  ASSERT_GE(current, 42);
  FallFrom(6, 2, 6);
  Decision d = Decide(370, current);
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
  EXPECT_NE(d.reason.find("down without the delay"), std::string::npos) << d.reason;

  policy_.reset();
  Steady(2, 6);
  Decide(0, 42);  // 16 asked, but the target keeps 42: no rise from a few replicas
  Steady(6, 6);
  current = Decide(100, 42).desired;
  FallFrom(6, 1, 6);
  d = Decide(200, current);
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
  EXPECT_NE(d.reason.find("down without the delay"), std::string::npos) << d.reason;
}

// A clear fall to a rate never seen, but within the flap window of a rise from 70 % of the count
// or less (16 -> 42 here), is more likely a square wave's first low phase than the end of a load:
// held, 120 s (the fall back to 16 is deep), and the reason says why.
TEST_F(ClearFallTest, AFallSoonAfterARiseFromAFewReplicasIsHeld) {
  const int high = RiseFromTwoToSix({100, 120, 140, 160, 180});
  ASSERT_GE(high, 42);
  FallFrom(6, 1, 6);
  Decision d = Decide(200, high);
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_NE(d.reason.find("arrivals fell within 300s of a rise from 16 replicas: held"),
            std::string::npos)
      << d.reason;
  EXPECT_EQ(Decide(290, high).direction, Direction::kHold);  // 120 s from the last high need
  d = Decide(301, high);
  EXPECT_EQ(d.direction, Direction::kDown) << d.reason;
}

// A deep fall of seconds-long requests (to 70 % of the count or less) that is not a clear fall,
// like a square wave's first low phase, waits out twice the delay (120 s): 24 in flight of 6 s
// answers hold 29 replicas (with one standard deviation of headroom), and at 12 in flight 16 are
// recommended. A shallow fall keeps the 60 s delay (the noise of a steady high phase moves a count
// by a replica or two), and so does the same deep fall of 0.1 s requests.
class DeepFallTest : public LongRequestsTest {
 protected:
  // Decisions once a second from `from` up to `to`, the target following; the last decision.
  Decision Run(double from, double to, int& current) {
    Decision d;
    for (double t = from; t <= to; t += 1) {
      d = Decide(t, current);
      current = d.desired;
    }
    return d;
  }
  // A minute of `in_flight` requests arriving at `rate`/s from 24 replicas, then the load falls to
  // `fall_in_flight` at `fall_rate`/s: the count at `until` s.
  int FallAfterAMinute(double in_flight, double rate, double fall_in_flight, double fall_rate,
                       double until, Decision& last) {
    int current = 24;
    demand_.Steady(in_flight, rate);
    Run(0, 60, current);
    high_ = current;
    demand_.Steady(fall_in_flight, fall_rate);
    last = Run(61, until, current);
    return current;
  }
  int high_ = 0;  // the count the minute settled on
};

TEST_F(DeepFallTest, WaitsOutTwiceTheDelay) {
  Decision d;
  EXPECT_EQ(FallAfterAMinute(24, 4, 12, 2, 170, d), 29) << d.reason;
  EXPECT_NE(d.reason.find("within the last 120s"), std::string::npos) << d.reason;
  int current = 29;
  d = Run(171, 185, current);
  EXPECT_EQ(current, 16) << d.reason;
}

TEST_F(DeepFallTest, AShallowFallKeepsTheDelay) {
  Decision d;  // 20 + 4.5 of headroom: 25, 86 % of 29
  EXPECT_EQ(FallAfterAMinute(24, 4, 20, 20.0 / 6, 125, d), 25) << d.reason;
  EXPECT_EQ(high_, 29);
}

TEST_F(DeepFallTest, ShortRequestsKeepTheDelay) {
  Decision d;
  EXPECT_EQ(FallAfterAMinute(24, 240, 12, 120, 125, d), 12) << d.reason;
  EXPECT_EQ(high_, 24);
}

// A slow fall reads their headroom too. 2 s answers at 3.5/s keep 7 in flight, 10 replicas with
// the headroom (+2.6). A window that reads 6.25 at 3.125/s asks for 9 (+2.5), and 6.25 raised by 4
// standard deviations of the window's noise (8.8) needs no more than 9 either: a slow fall, but
// for the headroom, which is what a window reading low leaves out. With it (11.3) the delay holds,
// as for any other fall.
TEST_F(LongRequestsTest, ASlowFallCountsTheirHeadroom) {
  demand_.trend_window_s = 2 * config_.tracking.stable_window_s;
  demand_.Steady(7, 3.5);
  demand_.trend_concurrency = 7;
  ASSERT_EQ(Decide(0, 10).desired, 10);
  demand_.Steady(6.25, 3.125);
  demand_.trend_concurrency = 6.625;
  Decision d = Decide(10, 10);
  EXPECT_EQ(d.direction, Direction::kHold) << d.reason;
  EXPECT_EQ(d.reason.find("slow fall"), std::string::npos) << d.reason;
  d = Decide(61, 10);
  EXPECT_EQ(d.desired, 9) << d.reason;
}

}  // namespace
}  // namespace lagscale::coordinator
