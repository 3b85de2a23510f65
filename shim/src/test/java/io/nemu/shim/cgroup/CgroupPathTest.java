package io.nemu.shim.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class CgroupPathTest {
    private static CgroupPath parse(String s) {
        return CgroupPath.parse(s).orElseThrow();
    }

    @Test
    void noPathIsNoCgroup() {
        assertEquals(Optional.empty(), CgroupPath.parse(null));
        assertEquals(Optional.empty(), CgroupPath.parse(""));
    }

    @Test
    void cgroupfsPathsAreTakenFromTheRoot() {
        // containerd's CRI without a cgroup_parent, ctr run, and CRI under a kubelet on the cgroupfs driver
        assertEquals(new CgroupPath("k8s.io/abc", false, "/k8s.io/abc"), parse("/k8s.io/abc"));
        assertEquals("default/c1", parse("/default/c1").path());
        assertEquals("kubepods/burstable/pod1/abc", parse("/kubepods//burstable/pod1/abc/").path());
    }

    @Test
    void aRelativePathIsTakenFromTheDaemonsOwnCgroup() {
        CgroupPath p = parse("pods/abc");
        assertTrue(p.relative());
        assertEquals("pods/abc", p.path());
        assertFalse(parse("/pods/abc").relative());
    }

    @Test
    void systemdPathsAreWhereSystemdKeepsTheUnit() {
        // containerd's CRI under a kubelet on the systemd driver: "<pod slice>:cri-containerd:<id>"
        assertEquals("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-abc.scope",
                parse("kubepods-burstable-pod12.slice:cri-containerd:abc").path());
        assertEquals("system.slice/runc-c1.scope", parse(":runc:c1").path());
        assertEquals("c1.scope", parse("-.slice::c1").path());
        assertEquals("user.slice/user-1000.slice/pods.slice", parse("user-1000.slice:x:pods.slice").path());
        assertFalse(parse("system.slice:a:b").relative());
    }

    @Test
    void pathsThatCannotBeACgroupAreRefusedNamingThem() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CgroupPath.parse("/a/../etc"))
                .getMessage().contains("'/a/../etc' contains '..'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CgroupPath.parse("/"))
                .getMessage().contains("names the root cgroup"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CgroupPath.parse("kubepods:x:abc"))
                .getMessage().contains("'kubepods' is not a systemd slice"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CgroupPath.parse("a--b.slice:x:abc"))
                .getMessage().contains("slice 'a--b.slice' has an empty part"));
    }
}
