#include "eventstore/event_store.h"

#include <future>

namespace iam::eventstore {

StatusOr<AppendResult> EventStore::Append(AppendRequest request) {
  std::promise<StatusOr<AppendResult>> promise;
  auto future = promise.get_future();
  AppendAsync(std::move(request), [&promise](StatusOr<AppendResult> result) {
    promise.set_value(std::move(result));
  });
  return future.get();
}

}  // namespace iam::eventstore
