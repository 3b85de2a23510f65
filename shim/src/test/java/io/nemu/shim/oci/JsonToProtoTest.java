package io.nemu.shim.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        assertEquals(List.of("unknownKey"), skipped.stream().filter(k -> !k.startsWith("linux.resources.cpu")).toList());
    }
}
