#include "core/events.h"

#include <type_traits>

namespace iam {
namespace {

template <typename T>
struct Meta;
#define IAM_EVENT_META(Type, stream_kind)                    \
  template <>                                                \
  struct Meta<Type> {                                        \
    static constexpr std::string_view kName = #Type;         \
    static constexpr std::string_view kStream = stream_kind; \
  };
IAM_EVENT_META(LedgerInitialized, "ledger")
IAM_EVENT_META(TokenCreated, "token")
IAM_EVENT_META(TokenRenamed, "token")
IAM_EVENT_META(TokenProjectsAssigned, "token")
IAM_EVENT_META(TokenStatusToggled, "token")
IAM_EVENT_META(TokenDeleted, "token")
IAM_EVENT_META(PolicyCreated, "policy")
IAM_EVENT_META(PolicyUpdated, "policy")
IAM_EVENT_META(PolicyMembersAdded, "policy")
IAM_EVENT_META(PolicyMembersRemoved, "policy")
IAM_EVENT_META(PolicyDeleted, "policy")
IAM_EVENT_META(RoleCreated, "role")
IAM_EVENT_META(RoleUpdated, "role")
IAM_EVENT_META(RoleDeleted, "role")
IAM_EVENT_META(ProjectCreated, "project")
IAM_EVENT_META(ProjectRenamed, "project")
IAM_EVENT_META(ProjectDeleted, "project")
IAM_EVENT_META(TokenExpirySet, "token")
IAM_EVENT_META(TokenRotated, "token")
#undef IAM_EVENT_META

template <size_t... I>
std::vector<std::string_view> Names(std::index_sequence<I...>) {
  return {Meta<std::variant_alternative_t<I, Event>>::kName...};
}

}  // namespace

std::string_view EventTypeName(const Event& event) {
  return std::visit(
      [](const auto& e) { return Meta<std::decay_t<decltype(e)>>::kName; },
      event);
}

const std::vector<std::string_view>& AllEventTypeNames() {
  static const auto* names = new std::vector<std::string_view>(
      Names(std::make_index_sequence<std::variant_size_v<Event>>()));
  return *names;
}

std::string StreamOf(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, LedgerInitialized>) {
          return std::string(Meta<T>::kStream);
        } else {
          std::string s(Meta<T>::kStream);
          s += '/';
          s += e.id;
          return s;
        }
      },
      event);
}

}  // namespace iam
