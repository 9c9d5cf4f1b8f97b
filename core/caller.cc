#include "core/caller.h"

#include <algorithm>

#include "core/ids.h"

namespace iam {

bool ProjectFilter::Visible(const StringList& object_projects) const {
  if (all) return true;
  if (object_projects.empty()) {
    return std::find(projects.begin(), projects.end(), kUnassignedProject) !=
           projects.end();
  }
  for (const auto& p : object_projects) {
    if (std::find(projects.begin(), projects.end(), p) != projects.end())
      return true;
  }
  return false;
}

}  // namespace iam
