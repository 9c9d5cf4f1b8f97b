#include "core/lifecycle.h"

#include <set>
#include <utility>
#include <vector>

#include "core/decide.h"
#include "core/model.h"

namespace iam {

StatusOr<Decision> DecideRevokeTokens(const RevokeTokens& cmd,
                                      const IamState& state,
                                      const Caller& /*caller*/) {
  std::set<std::string> ids(cmd.token_ids.begin(), cmd.token_ids.end());
  std::vector<Event> events;
  for (const std::string& id : ids) {
    auto it = state.tokens.find(id);
    if (it == state.tokens.end() || !it->second.active) continue;
    events.push_back(TokenStatusToggled{id, false});
  }
  return DecisionOf(std::move(events), state);
}

}  // namespace iam
