#include "lagscale/base/pending_ops.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace lagscale::base {
namespace {

enum Op : uint8_t { kRead, kWrite, kFinish, kOpCount };

struct Call {
  PendingOps<Call, Op> ops{this};
};

TEST(PendingOpsTest, ReturnedTagNamesTheOwnerAndTheOperation) {
  Call call;
  void* tag = call.ops.Start(kWrite);
  const auto& returned = PendingOps<Call, Op>::Returned(tag);
  EXPECT_EQ(returned.ops->owner(), &call);
  EXPECT_EQ(returned.op, kWrite);
}

TEST(PendingOpsTest, EachKindHasItsOwnStableTag) {
  Call call;
  void* read = call.ops.Start(kRead);
  void* write = call.ops.Start(kWrite);
  EXPECT_NE(read, write);
  PendingOps<Call, Op>::Returned(read);
  EXPECT_EQ(call.ops.Start(kRead), read);
}

TEST(PendingOpsTest, CountsOutstandingOperations) {
  Call call;
  EXPECT_EQ(call.ops.pending(), 0);
  void* read = call.ops.Start(kRead);
  void* write = call.ops.Start(kWrite);
  EXPECT_EQ(call.ops.pending(), 2);
  PendingOps<Call, Op>::Returned(write);
  EXPECT_EQ(call.ops.pending(), 1);
  PendingOps<Call, Op>::Returned(read);
  EXPECT_EQ(call.ops.pending(), 0);
}

TEST(PendingOpsTest, NotSettledWhileAnOperationIsOutstanding) {
  Call call;
  void* read = call.ops.Start(kRead);
  void* write = call.ops.Start(kWrite);
  PendingOps<Call, Op>::Returned(read);
  EXPECT_FALSE(call.ops.Settled());
  PendingOps<Call, Op>::Returned(write);
  EXPECT_TRUE(call.ops.Settled());
}

TEST(PendingOpsTest, OperationStartedByTheHandlerKeepsTheCallAlive) {
  Call call;
  void* read = call.ops.Start(kRead);
  PendingOps<Call, Op>::Returned(read);
  call.ops.Start(kFinish);  // the handler of the read starts the next step
  EXPECT_FALSE(call.ops.Settled());
}

TEST(PendingOpsTest, SettledIsTrueOnlyOnce) {
  Call call;
  PendingOps<Call, Op>::Returned(call.ops.Start(kFinish));
  EXPECT_TRUE(call.ops.Settled());
  EXPECT_FALSE(call.ops.Settled());
}

}  // namespace
}  // namespace lagscale::base
