package io.nemu.shim.cgroup;

import java.nio.file.Path;
import java.util.List;

/**
 * cgroup v2: one unified hierarchy. The sandbox's cgroup needs no controller of its own: a limit the kubelet
 * sets on the pod's cgroup (its parent) bounds it, and usage is charged up to the nearest ancestor that
 * enables the controller.
 */
public record CgroupV2(CgroupFs.Hierarchy unified) implements CgroupFs {
    static CgroupV2 of(Path root, String selfCgroup) {
        return new CgroupV2(new CgroupFs.Hierarchy("unified", root, CgroupFs.ownPath(selfCgroup, String::isEmpty)));
    }

    @Override
    public List<CgroupFs.Hierarchy> hierarchies() {
        return List.of(unified);
    }

    @Override
    public String describe() {
        return "cgroup v2";
    }
}
