package io.nemu.shim.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Message;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.Spec;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonToProtoTest {
    @Test
    void ociConfigToKataSpec() throws Exception {
        String json = """
                {"ociVersion":"1.0.2","hostname":"h1",
                 "process":{"terminal":true,"consoleSize":{"height":24,"width":80},
                   "user":{"uid":1000,"gid":100,"additionalGids":[10,11]},
                   "args":["sh","-c","exit 3"],"env":["PATH=/bin"],"cwd":"/","oomScoreAdj":-500,
                   "capabilities":{"bounding":["CAP_KILL"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}]},
                 "root":{"path":"rootfs","readonly":true},
                 "mounts":[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid"]}],
                 "annotations":{"a":"b"},
                 "linux":{"namespaces":[{"type":"pid"}],"resources":{"memory":{"limit":1048576},"cpu":{"shares":2}},
                   "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],"cgroupsPath":"/default/t1",
                   "maskedPaths":["/proc/kcore"]},
                 "unknownKey":{"x":1}}
                """;
        List<String> skipped = new ArrayList<>();
        Spec.Builder b = Spec.newBuilder();
        JsonToProto.merge(Bundle.json().readTree(json), b, skipped::add);
        Spec s = b.build();
        assertEquals("1.0.2", s.getVersion());
        assertEquals("h1", s.getHostname());
        assertTrue(s.getProcess().getTerminal());
        assertEquals(80, s.getProcess().getConsoleSize().getWidth());
        assertEquals(1000, s.getProcess().getUser().getUID());
        assertEquals(List.of(10, 11), s.getProcess().getUser().getAdditionalGidsList());
        assertEquals(List.of("sh", "-c", "exit 3"), s.getProcess().getArgsList());
        assertEquals(-500, s.getProcess().getOOMScoreAdj());
        assertEquals(List.of("CAP_KILL"), s.getProcess().getCapabilities().getBoundingList());
        assertEquals(1024, s.getProcess().getRlimits(0).getHard());
        assertTrue(s.getRoot().getReadonly());
        assertEquals("/proc", s.getMounts(0).getDestination());
        assertEquals("b", s.getAnnotationsMap().get("a"));
        assertEquals("pid", s.getLinux().getNamespaces(0).getType());
        assertEquals(1048576, s.getLinux().getResources().getMemory().getLimit());
        assertEquals(1000, s.getLinux().getUIDMappings(0).getHostID());
        assertEquals("/default/t1", s.getLinux().getCgroupsPath());
        assertEquals(List.of("unknownKey"), skipped);
    }

    private static Spec spec(String json) throws Exception {
        Spec.Builder b = Spec.newBuilder();
        JsonToProto.merge(Bundle.json().readTree(json), b, k -> { });
        return b.build();
    }

    private static String refused(String json) {
        return refused(json, Spec.newBuilder(), "");
    }

    private static String refused(String json, Message.Builder into, String root) {
        return assertThrows(JsonToProto.Mismatch.class,
                () -> JsonToProto.merge(Bundle.json().readTree(json), into, root, k -> { })).getMessage();
    }

    @Test
    void aWrongTypeIsAnErrorNamingItsPathNeverADroppedField() {
        assertEquals("process.user.uid: expected a number, got string \"1000\"",
                refused("{\"process\":{\"user\":{\"uid\":\"1000\",\"gid\":0}}}"));
        assertEquals("process.args: expected an array, got string \"sh -c true\"",
                refused("{\"process\":{\"args\":\"sh -c true\"}}"));
        assertEquals("process.env: expected an array, got an object",
                refused("{\"process\":{\"env\":{\"PATH\":\"/bin\"}}}"));
        assertEquals("process.args[1]: expected a string, got number 3",
                refused("{\"process\":{\"args\":[\"sleep\",3]}}"));
        assertEquals("process.terminal: expected true or false, got string \"yes\"",
                refused("{\"process\":{\"terminal\":\"yes\"}}"));
        assertEquals("hostname: expected a string, got number 7", refused("{\"hostname\":7}"));
        assertEquals("root: expected an object, got string \"rootfs\"", refused("{\"root\":\"rootfs\"}"));
        assertEquals("annotations[\"a\"]: expected a string, got boolean true",
                refused("{\"annotations\":{\"a\":true}}"));
    }

    @Test
    void nestedWrongTypesInMountsAndResources() {
        assertEquals("mounts[1].options: expected an array, got string \"ro\"",
                refused("{\"mounts\":[{\"destination\":\"/a\"},{\"destination\":\"/b\",\"options\":\"ro\"}]}"));
        assertEquals("mounts[0]: expected an object, got string \"/data\"", refused("{\"mounts\":[\"/data\"]}"));
        assertEquals("linux.resources.memory.limit: expected a number, got string \"1G\"",
                refused("{\"linux\":{\"resources\":{\"memory\":{\"limit\":\"1G\"}}}}"));
        assertEquals("linux.resources.cpu.shares: expected an integer, got number 1.5",
                refused("{\"linux\":{\"resources\":{\"cpu\":{\"shares\":1.5}}}}"));
        assertEquals("linux.sysctl[\"net.ipv4.ip_forward\"]: expected a string, got number 1",
                refused("{\"linux\":{\"sysctl\":{\"net.ipv4.ip_forward\":1}}}"));
    }

    @Test
    void numbersOutOfTheirFieldsRangeAreRefused() {
        assertEquals("process.user.uid: 4294967296 is out of range for uint32 (0..4294967295)",
                refused("{\"process\":{\"user\":{\"uid\":4294967296}}}"));
        assertEquals("process.user.uid: -1 is out of range for uint32 (0..4294967295)",
                refused("{\"process\":{\"user\":{\"uid\":-1}}}"));
        assertEquals("process.rlimits[0].hard: -1 is out of range for uint64 (0..18446744073709551615)",
                refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":-1}]}}"));
        assertEquals("process.oomScoreAdj: 9223372036854775808 is out of range for int64"
                        + " (-9223372036854775808..9223372036854775807)",
                refused("{\"process\":{\"oomScoreAdj\":9223372036854775808}}"));
    }

    @Test
    void theWholeRangeOfEachTypeIsKept() throws Exception {
        Spec s = spec("""
                {"process":{"user":{"uid":4294967295,"gid":0},
                  "rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":0}]},
                 "linux":{"resources":{"memory":{"limit":-1,"swap":-1}}},
                 "mounts":null}
                """);
        assertEquals(4294967295L, Integer.toUnsignedLong(s.getProcess().getUser().getUID()));
        assertEquals("18446744073709551615", Long.toUnsignedString(s.getProcess().getRlimits(0).getHard()));
        assertEquals(-1, s.getLinux().getResources().getMemory().getLimit());
        assertEquals(0, s.getMountsCount(), "null is Go's zero value");
    }

    @Test
    void execProcessAndUpdateResourcesNameTheirRoot() {
        assertEquals("process.user.uid: expected a number, got string \"0\"",
                refused("{\"user\":{\"uid\":\"0\"},\"args\":[\"sh\"]}", Process.newBuilder(), "process"));
        assertEquals("linux.resources.pids.limit: expected a number, got an array",
                refused("{\"pids\":{\"limit\":[1]}}", LinuxResources.newBuilder(), "linux.resources"));
        assertEquals("process: expected an object, got an array", refused("[]", Process.newBuilder(), "process"));
    }
}
