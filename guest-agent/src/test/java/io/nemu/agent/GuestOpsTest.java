package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.nemu.agent.storage.StorageDrivers;
import io.nemu.proto.kata.CopyFileRequest;
import io.nemu.proto.kata.GuestDetailsRequest;
import io.nemu.proto.kata.GuestDetailsResponse;
import io.nemu.proto.kata.OnlineCPUMemRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Guest-wide calls against a sysfs tree of the test's own. */
class GuestOpsTest {

    @TempDir
    Path dir;

    private AgentConfig cfg() {
        return new AgentConfig(dir.resolve("state"), dir.resolve("shared"), "crun", dir.resolve("cg"), "/nemu",
                List.of("ip"), dir.resolve("resolv.conf"), dir.resolve("sys"), dir.resolve("run"), false);
    }

    private Path sys(String rel, String content) throws Exception {
        Path p = dir.resolve("sys").resolve(rel);
        Files.createDirectories(p.getParent());
        Files.writeString(p, content);
        return p;
    }

    @Test
    void onlinesCpusAndMemoryAndReportsBlockSize() throws Exception {
        Files.createDirectories(dir.resolve("sys/devices/system/cpu/cpu0"));
        Path cpu1 = sys("devices/system/cpu/cpu1/online", "0\n");
        Path cpu2 = sys("devices/system/cpu/cpu2/online", "1\n");
        sys("devices/system/cpu/cpufreq/online", "0\n"); // not a cpu
        Path mem0 = sys("devices/system/memory/memory0/online", "0\n");
        sys("devices/system/memory/block_size_bytes", "8000000\n");

        GuestOps.onlineCpuMem(cfg(), OnlineCPUMemRequest.newBuilder().setCpuOnly(true).build());
        assertEquals("1", Files.readString(cpu1).trim());
        assertEquals("1", Files.readString(cpu2).trim());
        assertEquals("0", Files.readString(mem0).trim(), "cpu_only leaves memory alone");
        assertEquals("0", Files.readString(dir.resolve("sys/devices/system/cpu/cpufreq/online")).trim());

        GuestOps.onlineCpuMem(cfg(), OnlineCPUMemRequest.newBuilder().setWait(true).setNbCpus(3).build());
        assertEquals("1", Files.readString(mem0).trim());

        AgentException e = assertThrows(AgentException.class, () -> GuestOps.onlineCpuMem(cfg(),
                OnlineCPUMemRequest.newBuilder().setWait(true).setNbCpus(9).setCpuOnly(true).build(), 300));
        assertTrue(e.getMessage().contains("3 of 9"), e.getMessage());

        GuestDetailsResponse d = GuestOps.details(cfg(), GuestDetailsRequest.newBuilder().setMemBlockSize(true)
                .setMemHotplugProbe(true).build());
        assertEquals(0x8000000L, d.getMemBlockSizeBytes());
        assertFalse(d.getSupportMemHotplugProbe());
        assertEquals(AgentConfig.VERSION, d.getAgentDetails().getVersion());
    }

    @Test
    void copyFileInChunks() throws Exception {
        Path target = dir.resolve("run/shared/x/f.txt");
        CopyFileRequest.Builder r = CopyFileRequest.newBuilder().setPath(target.toString()).setFileSize(10)
                .setFileMode(0100640).setDirMode(0750).setUid(-1).setGid(-1);
        GuestOps.copyFile(cfg(), r.setOffset(0).setData(ByteString.copyFromUtf8("hello")).build());
        assertFalse(Files.exists(target), "not there before the last chunk");
        GuestOps.copyFile(cfg(), r.setOffset(5).setData(ByteString.copyFromUtf8("world")).build());
        assertEquals("helloworld", Files.readString(target));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));

        AgentException e = assertThrows(AgentException.class, () -> GuestOps.copyFile(cfg(),
                r.setPath("/etc/evil").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        e = assertThrows(AgentException.class, () -> GuestOps.copyFile(cfg(),
                r.setPath(dir.resolve("run/../escape").toString()).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
    }

    @Test
    void dnsLines() throws Exception {
        GuestOps.writeDns(cfg(), List.of("192.0.2.1", "search a.test", "options ndots:5"));
        assertEquals("nameserver 192.0.2.1\nsearch a.test\noptions ndots:5\n", Files.readString(dir.resolve("resolv.conf")));
        assertThrows(AgentException.class, () -> GuestOps.setTime(1, 2_000_000));
    }

    @Test
    void advertisesOnlyStorageDriversTheAgentHas() {
        GuestDetailsResponse d = GuestOps.details(cfg(), GuestDetailsRequest.getDefaultInstance());
        Set<String> names = new StorageDrivers(dir.resolve("shared")).names();
        assertTrue(names.containsAll(d.getAgentDetails().getStorageHandlersList()),
                d.getAgentDetails().getStorageHandlersList() + " vs " + names);
    }
}
