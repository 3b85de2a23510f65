package io.nemu.shim.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sandbox's cgroup on fake cgroup roots (temp folders laid out as v1 or v2). */
class SandboxCgroupTest {
    /** /proc/self/cgroup of a daemon started by a containerd whose memory cgroup is its own (v1, hybrid host). */
    private static final String SELF_V1 = """
            9:name=systemd:/
            8:pids:/
            7:cpuset:/
            4:memory:/system/containerd
            2:cpuacct:/
            1:cpu:/
            0::/
            """;

    @TempDir
    Path root;
    @TempDir
    Path state;

    /** rmdir(2) as cgroupfs does it: refused while a child cgroup exists; the control files go with the folder. */
    static final SandboxCgroup.Rmdir RMDIR = dir -> {
        try (Stream<Path> s = Files.list(dir)) {
            if (s.anyMatch(Files::isDirectory)) {
                throw new FileSystemException(dir.toString(), null, "Device or resource busy");
            }
        }
        Files.deleteIfExists(dir.resolve("cgroup.procs"));
        Files.delete(dir);
    };

    private CgroupFs v1() throws IOException {
        for (String c : List.of("cpu", "cpuacct", "cpuset", "memory", "pids", "devices")) {
            Files.createDirectories(root.resolve(c));
        }
        Files.createDirectories(root.resolve("memory/system/containerd"));
        return CgroupFs.detect(root, SELF_V1);
    }

    private SandboxCgroup enter(CgroupFs fs, String path) throws IOException {
        return SandboxCgroup.enter(fs, "sb1", CgroupPath.parse(path).orElseThrow(), state, RMDIR);
    }

    private static String procs(Path folder) throws IOException {
        return Files.readString(folder.resolve("cgroup.procs"));
    }

    @Test
    void v1JoinsCpuCpuacctMemoryAndPidsFromWhereTheDaemonIs() throws IOException {
        CgroupFs fs = v1();
        assertInstanceOf(CgroupV1.class, fs);
        assertEquals(List.of(new CgroupFs.Hierarchy("cpu", root.resolve("cpu"), ""),
                new CgroupFs.Hierarchy("cpuacct", root.resolve("cpuacct"), ""),
                new CgroupFs.Hierarchy("memory", root.resolve("memory"), "system/containerd"),
                new CgroupFs.Hierarchy("pids", root.resolve("pids"), "")), fs.hierarchies());
        assertEquals("cgroup v1 (cpu, cpuacct, memory, pids)", fs.describe());
    }

    @Test
    void v1ASharedCpuCpuacctMountIsJoinedOnce() throws IOException {
        Files.createDirectories(root.resolve("cpu,cpuacct"));
        Files.createSymbolicLink(root.resolve("cpu"), root.resolve("cpu,cpuacct"));
        Files.createSymbolicLink(root.resolve("cpuacct"), root.resolve("cpu,cpuacct"));
        Files.createDirectories(root.resolve("memory"));
        CgroupFs fs = CgroupFs.detect(root, "3:cpu,cpuacct:/a\n2:memory:/\n");
        assertEquals(List.of(new CgroupFs.Hierarchy("cpu", root.resolve("cpu"), "a"),
                new CgroupFs.Hierarchy("memory", root.resolve("memory"), "")), fs.hierarchies());
    }

    @Test
    void v2IsTheUnifiedHierarchy() throws IOException {
        Files.writeString(root.resolve("cgroup.controllers"), "cpu memory pids\n");
        CgroupFs fs = CgroupFs.detect(root, "0::/system.slice/containerd.service\n");
        assertEquals(List.of(new CgroupFs.Hierarchy("unified", root, "system.slice/containerd.service")),
                fs.hierarchies());
        assertEquals("cgroup v2", fs.describe());
    }

    @Test
    void noCgroupFileSystemIsAnError() {
        IOException e = assertThrows(IOException.class, () -> CgroupFs.detect(root, ""));
        assertTrue(e.getMessage().contains("none of the v1 controllers"), e.getMessage());
    }

    @Test
    void v1MakesWhatIsMissingAdoptsQemuAndRemovesOnlyWhatItMade() throws IOException {
        CgroupFs fs = v1();
        // the kubelet made the pod's cgroup in cpu and memory (with the pod's limits); not in cpuacct and pids here
        Path podCpu = Files.createDirectories(root.resolve("cpu/kubepods/pod1"));
        Path podMemory = Files.createDirectories(root.resolve("memory/kubepods/pod1"));
        SandboxCgroup cg = enter(fs, "/kubepods/pod1/sb1");
        assertEquals(List.of(podCpu.resolve("sb1"), root.resolve("cpuacct/kubepods/pod1/sb1"), podMemory.resolve("sb1"),
                root.resolve("pids/kubepods/pod1/sb1")), cg.folders());
        for (Path f : cg.folders()) {
            assertFalse(Files.exists(f.resolve("cgroup.procs")), "the daemon (shared by pods) stays out of " + f);
        }
        assertFalse(Files.exists(root.resolve("cpuset/kubepods")), "cpuset is not joined");
        cg.adopt("QEMU", 77);
        for (Path f : cg.folders()) {
            assertEquals("77", procs(f), "QEMU moved into " + f);
        }
        String record = Files.readString(state.resolve(SandboxCgroup.RECORD));
        assertTrue(record.contains("sandbox " + podMemory.resolve("sb1") + "\n"), record);
        assertTrue(record.contains("parent " + root.resolve("pids/kubepods") + "\n"), record);
        assertFalse(record.contains(podMemory + "\n"), "the kubelet's folder is not ours: " + record);

        cg.close();
        for (Path f : cg.folders()) {
            assertFalse(Files.exists(f), f + " is left");
        }
        assertFalse(Files.exists(root.resolve("pids/kubepods")), "a parent it made is removed");
        assertTrue(Files.isDirectory(podCpu) && Files.isDirectory(podMemory), "the kubelet's pod cgroup stays");
        assertFalse(Files.exists(state.resolve(SandboxCgroup.RECORD)));
    }

    @Test
    void aParentStillUsedByAnotherSandboxStays() throws IOException {
        CgroupFs fs = v1();
        SandboxCgroup a = enter(fs, "/default/a");
        SandboxCgroup b = SandboxCgroup.enter(fs, "b", CgroupPath.parse("/default/b").orElseThrow(),
                Files.createDirectories(state.resolve("b")), RMDIR);
        a.close();
        assertFalse(Files.exists(root.resolve("memory/default/a")));
        assertTrue(Files.isDirectory(root.resolve("memory/default/b")), "b's cgroup is untouched");
        b.close();
        assertFalse(Files.exists(root.resolve("memory/default/b")));
        assertTrue(Files.isDirectory(root.resolve("memory/default")), "made by a, left when a could not remove it");
    }

    @Test
    void v2RelativePathStartsAtTheDaemonsCgroup() throws IOException {
        Files.writeString(root.resolve("cgroup.controllers"), "cpu memory pids\n");
        Files.createDirectories(root.resolve("shim"));
        CgroupFs fs = CgroupFs.detect(root, "0::/shim\n");
        SandboxCgroup cg = enter(fs, "pods/sb1");
        assertEquals(List.of(root.resolve("shim/pods/sb1")), cg.folders());
        cg.close();
        assertFalse(Files.exists(root.resolve("shim/pods")));
    }

    @Test
    void afterADeadDaemonTheRecordedFoldersAreRemoved() throws IOException {
        CgroupFs fs = v1();
        Files.createDirectories(root.resolve("memory/k8s.io"));
        SandboxCgroup cg = enter(fs, "/k8s.io/sb1");
        // the daemon is killed here: no close
        List<String> done = SandboxCgroup.cleanUpRecorded(state, RMDIR);
        assertEquals(1, done.size(), done.toString());
        assertTrue(done.get(0).startsWith("removed the sandbox's cgroup folders"), done.toString());
        for (Path f : cg.folders()) {
            assertFalse(Files.exists(f), f + " is left");
        }
        assertFalse(Files.exists(root.resolve("cpu/k8s.io")), "made by the sandbox");
        assertTrue(Files.isDirectory(root.resolve("memory/k8s.io")), "not made by the sandbox");
        assertEquals(List.of(), SandboxCgroup.cleanUpRecorded(Files.createDirectories(state.resolve("none")), RMDIR));
    }

    @Test
    void aCgroupThatCannotBeJoinedFailsAndLeavesNothing() throws IOException {
        CgroupFs fs = v1();
        // cgroup.procs refuses the write (a folder where the file should be stands for the kernel's refusal)
        Files.createDirectories(root.resolve("pids/x/sb1/cgroup.procs"));
        SandboxCgroup cg = enter(fs, "/x/sb1");
        IOException e = assertThrows(IOException.class, () -> cg.adopt("QEMU", 77));
        assertTrue(e.getMessage().startsWith("sandbox sb1: cannot move QEMU (pid 77) into cgroup "), e.getMessage());
        cg.close();
        assertFalse(Files.exists(root.resolve("memory/x")), "what it made is removed");
        assertFalse(Files.exists(root.resolve("cpu/x")));
    }
}
