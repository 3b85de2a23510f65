package io.nemu.proto.cri;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor.Type;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.grpc.MethodDescriptor.MethodType;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Guards the wire identity of our CRI v1 copy: gRPC paths are what containerd
 * routes on, field numbers and types are what it decodes. Expected values are
 * written out by hand here so a slip in api.proto fails.
 */
class CriApiWireTest {

    private static final String RUNTIME = "runtime.v1.RuntimeService";
    private static final String IMAGE = "runtime.v1.ImageService";

    @Test
    void packageAndServiceNames() {
        assertEquals("runtime.v1", CriApiProto.getDescriptor().getPackage());
        assertEquals(RUNTIME, RuntimeServiceGrpc.SERVICE_NAME);
        assertEquals(IMAGE, ImageServiceGrpc.SERVICE_NAME);
        assertEquals(RUNTIME, service("RuntimeService").getFullName());
        assertEquals(IMAGE, service("ImageService").getFullName());
    }

    @Test
    void grpcPathsOfTheCallsWeUse() {
        List<io.grpc.MethodDescriptor<?, ?>> runtime = List.of(
                RuntimeServiceGrpc.getRunPodSandboxMethod(),
                RuntimeServiceGrpc.getStopPodSandboxMethod(),
                RuntimeServiceGrpc.getRemovePodSandboxMethod(),
                RuntimeServiceGrpc.getPodSandboxStatusMethod(),
                RuntimeServiceGrpc.getListPodSandboxMethod(),
                RuntimeServiceGrpc.getCreateContainerMethod(),
                RuntimeServiceGrpc.getStartContainerMethod(),
                RuntimeServiceGrpc.getStopContainerMethod(),
                RuntimeServiceGrpc.getRemoveContainerMethod(),
                RuntimeServiceGrpc.getListContainersMethod(),
                RuntimeServiceGrpc.getContainerStatusMethod(),
                RuntimeServiceGrpc.getExecSyncMethod(),
                RuntimeServiceGrpc.getContainerStatsMethod(),
                RuntimeServiceGrpc.getVersionMethod(),
                RuntimeServiceGrpc.getStatusMethod());
        List<String> runtimePaths = List.of(
                RUNTIME + "/RunPodSandbox",
                RUNTIME + "/StopPodSandbox",
                RUNTIME + "/RemovePodSandbox",
                RUNTIME + "/PodSandboxStatus",
                RUNTIME + "/ListPodSandbox",
                RUNTIME + "/CreateContainer",
                RUNTIME + "/StartContainer",
                RUNTIME + "/StopContainer",
                RUNTIME + "/RemoveContainer",
                RUNTIME + "/ListContainers",
                RUNTIME + "/ContainerStatus",
                RUNTIME + "/ExecSync",
                RUNTIME + "/ContainerStats",
                RUNTIME + "/Version",
                RUNTIME + "/Status");
        assertEquals(runtimePaths, runtime.stream().map(io.grpc.MethodDescriptor::getFullMethodName).toList());

        List<io.grpc.MethodDescriptor<?, ?>> image = List.of(
                ImageServiceGrpc.getPullImageMethod(),
                ImageServiceGrpc.getListImagesMethod(),
                ImageServiceGrpc.getImageStatusMethod(),
                ImageServiceGrpc.getRemoveImageMethod());
        assertEquals(
                List.of(IMAGE + "/PullImage", IMAGE + "/ListImages", IMAGE + "/ImageStatus", IMAGE + "/RemoveImage"),
                image.stream().map(io.grpc.MethodDescriptor::getFullMethodName).toList());

        for (var m : runtime) {
            assertEquals(MethodType.UNARY, m.getType(), m.getFullMethodName());
        }
        for (var m : image) {
            assertEquals(MethodType.UNARY, m.getType(), m.getFullMethodName());
        }
    }

    @Test
    void requestAndResponseTypesOfThePodCalls() {
        assertRpc("RuntimeService", "RunPodSandbox", "RunPodSandboxRequest", "RunPodSandboxResponse", false);
        assertRpc("RuntimeService", "CreateContainer", "CreateContainerRequest", "CreateContainerResponse", false);
        assertRpc("RuntimeService", "ExecSync", "ExecSyncRequest", "ExecSyncResponse", false);
        assertRpc("RuntimeService", "GetContainerEvents", "GetEventsRequest", "ContainerEventResponse", true);
        assertRpc("ImageService", "PullImage", "PullImageRequest", "PullImageResponse", false);
    }

    @Test
    void everyUpstreamRpcIsPresentWithItsStreamingKind() {
        Set<String> runtimeUnary = Set.of(
                "Version", "Status", "UpdateRuntimeConfig", "RuntimeConfig",
                "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus", "ListPodSandbox",
                "UpdatePodSandboxResources",
                "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "ListContainers",
                "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog",
                "ExecSync", "Exec", "Attach", "PortForward",
                "ContainerStats", "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats",
                "ListMetricDescriptors", "ListPodSandboxMetrics",
                "CheckpointContainer", "CheckpointPod", "RestorePod");
        Set<String> runtimeStreaming = Set.of(
                "StreamPodSandboxes", "StreamContainers", "StreamContainerStats", "StreamPodSandboxStats",
                "StreamPodSandboxMetrics", "GetContainerEvents");
        assertServiceShape(service("RuntimeService"), runtimeUnary, runtimeStreaming);
        assertServiceShape(service("ImageService"),
                Set.of("ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"),
                Set.of("StreamImages"));
        assertEquals(MethodType.SERVER_STREAMING, RuntimeServiceGrpc.getGetContainerEventsMethod().getType());
        assertEquals(MethodType.SERVER_STREAMING, ImageServiceGrpc.getStreamImagesMethod().getType());
    }

    @Test
    void runPodSandboxRequestFields() {
        Descriptor d = RunPodSandboxRequest.getDescriptor();
        assertMessageField(d, "config", 1, "runtime.v1.PodSandboxConfig");
        assertField(d, "runtime_handler", 2, Type.STRING, false);
        assertEquals(2, d.getFields().size());
    }

    @Test
    void podSandboxConfigFields() {
        Descriptor d = PodSandboxConfig.getDescriptor();
        assertMessageField(d, "metadata", 1, "runtime.v1.PodSandboxMetadata");
        assertField(d, "hostname", 2, Type.STRING, false);
        assertField(d, "log_directory", 3, Type.STRING, false);
        assertMessageField(d, "dns_config", 4, "runtime.v1.DNSConfig");
        assertField(d, "port_mappings", 5, Type.MESSAGE, true);
        assertStringMap(d, "labels", 6);
        assertStringMap(d, "annotations", 7);
        assertMessageField(d, "linux", 8, "runtime.v1.LinuxPodSandboxConfig");
        assertMessageField(d, "windows", 9, "runtime.v1.WindowsPodSandboxConfig");
        assertEquals(9, d.getFields().size());

        Descriptor meta = PodSandboxMetadata.getDescriptor();
        assertField(meta, "name", 1, Type.STRING, false);
        assertField(meta, "uid", 2, Type.STRING, false);
        assertField(meta, "namespace", 3, Type.STRING, false);
        assertField(meta, "attempt", 4, Type.UINT32, false);

        Descriptor linux = LinuxPodSandboxConfig.getDescriptor();
        assertField(linux, "cgroup_parent", 1, Type.STRING, false);
        assertMessageField(linux, "security_context", 2, "runtime.v1.LinuxSandboxSecurityContext");
        assertStringMap(linux, "sysctls", 3);
        assertMessageField(linux, "overhead", 4, "runtime.v1.LinuxContainerResources");
        assertMessageField(linux, "resources", 5, "runtime.v1.LinuxContainerResources");
    }

    @Test
    void containerConfigFields() {
        Descriptor d = ContainerConfig.getDescriptor();
        assertMessageField(d, "metadata", 1, "runtime.v1.ContainerMetadata");
        assertMessageField(d, "image", 2, "runtime.v1.ImageSpec");
        assertField(d, "command", 3, Type.STRING, true);
        assertField(d, "args", 4, Type.STRING, true);
        assertField(d, "working_dir", 5, Type.STRING, false);
        assertField(d, "envs", 6, Type.MESSAGE, true);
        assertField(d, "mounts", 7, Type.MESSAGE, true);
        assertField(d, "devices", 8, Type.MESSAGE, true);
        assertStringMap(d, "labels", 9);
        assertStringMap(d, "annotations", 10);
        assertField(d, "log_path", 11, Type.STRING, false);
        assertField(d, "stdin", 12, Type.BOOL, false);
        assertField(d, "stdin_once", 13, Type.BOOL, false);
        assertField(d, "tty", 14, Type.BOOL, false);
        assertMessageField(d, "linux", 15, "runtime.v1.LinuxContainerConfig");
        assertMessageField(d, "windows", 16, "runtime.v1.WindowsContainerConfig");
        assertField(d, "CDI_devices", 17, Type.MESSAGE, true);
        assertField(d, "stop_signal", 18, Type.ENUM, false);
        assertEquals(18, d.getFields().size());

        Descriptor kv = KeyValue.getDescriptor();
        assertField(kv, "key", 1, Type.STRING, false);
        assertField(kv, "value", 2, Type.BYTES, false);

        Descriptor image = ImageSpec.getDescriptor();
        assertField(image, "image", 1, Type.STRING, false);
        assertStringMap(image, "annotations", 2);
        assertField(image, "user_specified_image", 18, Type.STRING, false);
        assertField(image, "runtime_handler", 19, Type.STRING, false);
        assertField(image, "image_ref", 20, Type.STRING, false);

        Descriptor create = CreateContainerRequest.getDescriptor();
        assertField(create, "pod_sandbox_id", 1, Type.STRING, false);
        assertMessageField(create, "config", 2, "runtime.v1.ContainerConfig");
        assertMessageField(create, "sandbox_config", 3, "runtime.v1.PodSandboxConfig");
    }

    @Test
    void execSyncFields() {
        Descriptor req = ExecSyncRequest.getDescriptor();
        assertField(req, "container_id", 1, Type.STRING, false);
        assertField(req, "cmd", 2, Type.STRING, true);
        assertField(req, "timeout", 3, Type.INT64, false);
        assertEquals(3, req.getFields().size());

        Descriptor resp = ExecSyncResponse.getDescriptor();
        assertField(resp, "stdout", 1, Type.BYTES, false);
        assertField(resp, "stderr", 2, Type.BYTES, false);
        assertField(resp, "exit_code", 3, Type.INT32, false);
        assertEquals(3, resp.getFields().size());
    }

    @Test
    void mountFields() {
        Descriptor d = Mount.getDescriptor();
        assertField(d, "container_path", 1, Type.STRING, false);
        assertField(d, "host_path", 2, Type.STRING, false);
        assertField(d, "readonly", 3, Type.BOOL, false);
        assertField(d, "selinux_relabel", 4, Type.BOOL, false);
        assertField(d, "propagation", 5, Type.ENUM, false);
        assertEquals("runtime.v1.MountPropagation", d.findFieldByNumber(5).getEnumType().getFullName());
        assertField(d, "uidMappings", 6, Type.MESSAGE, true);
        assertField(d, "gidMappings", 7, Type.MESSAGE, true);
        assertField(d, "recursive_read_only", 8, Type.BOOL, false);
        assertMessageField(d, "image", 9, "runtime.v1.ImageSpec");
        assertField(d, "image_sub_path", 10, Type.STRING, false);
        assertField(d, "mount_options", 11, Type.STRING, true);
        assertEquals(11, d.getFields().size());
        assertEquals(List.of("PROPAGATION_PRIVATE", "PROPAGATION_HOST_TO_CONTAINER", "PROPAGATION_BIDIRECTIONAL"),
                MountPropagation.getDescriptor().getValues().stream().map(v -> v.getName()).toList());
    }

    /** Bytes written out by hand from the field numbers, independent of the descriptors. */
    @Test
    void runPodSandboxRequestEncodesAsExpected() throws Exception {
        RunPodSandboxRequest req = RunPodSandboxRequest.newBuilder()
                .setConfig(PodSandboxConfig.newBuilder()
                        .setMetadata(PodSandboxMetadata.newBuilder()
                                .setName("p").setUid("u").setNamespace("n").setAttempt(1)))
                .setRuntimeHandler("nemu")
                .build();
        byte[] expected = bytes(
                0x0a, 0x0d,                         // config (1, LEN 13)
                0x0a, 0x0b,                         //   metadata (1, LEN 11)
                0x0a, 0x01, 'p',                    //     name (1)
                0x12, 0x01, 'u',                    //     uid (2)
                0x1a, 0x01, 'n',                    //     namespace (3)
                0x20, 0x01,                         //     attempt (4, varint)
                0x12, 0x04, 'n', 'e', 'm', 'u');    // runtime_handler (2)
        assertArrayEquals(expected, req.toByteArray());
        assertEquals(req, RunPodSandboxRequest.parseFrom(expected));
    }

    @Test
    void execSyncResponseDecodesAsExpected() throws Exception {
        byte[] wire = bytes(
                0x0a, 0x02, 'h', 'i',               // stdout (1)
                0x12, 0x01, 'e',                    // stderr (2)
                0x18, 0x07);                        // exit_code (3)
        ExecSyncResponse resp = ExecSyncResponse.parseFrom(wire);
        assertEquals(ByteString.copyFrom("hi", StandardCharsets.US_ASCII), resp.getStdout());
        assertEquals(ByteString.copyFrom("e", StandardCharsets.US_ASCII), resp.getStderr());
        assertEquals(7, resp.getExitCode());
        assertTrue(resp.getUnknownFields().asMap().isEmpty());
    }

    // ---- helpers ----

    private static ServiceDescriptor service(String name) {
        ServiceDescriptor s = CriApiProto.getDescriptor().findServiceByName(name);
        assertNotNull(s, "service " + name + " missing");
        return s;
    }

    private static void assertRpc(String svc, String rpc, String in, String out, boolean serverStreaming) {
        MethodDescriptor m = service(svc).findMethodByName(rpc);
        assertNotNull(m, svc + "/" + rpc + " missing");
        assertEquals("runtime.v1." + in, m.getInputType().getFullName(), rpc + " input");
        assertEquals("runtime.v1." + out, m.getOutputType().getFullName(), rpc + " output");
        assertEquals(serverStreaming, m.isServerStreaming(), rpc + " server streaming");
        assertEquals(false, m.isClientStreaming(), rpc + " client streaming");
    }

    private static void assertServiceShape(ServiceDescriptor s, Set<String> unary, Set<String> serverStreaming) {
        Set<String> expected = new TreeSet<>(unary);
        expected.addAll(serverStreaming);
        Set<String> actual = s.getMethods().stream().map(MethodDescriptor::getName)
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(expected, actual, s.getFullName() + " rpcs");
        for (MethodDescriptor m : s.getMethods()) {
            assertEquals(serverStreaming.contains(m.getName()), m.isServerStreaming(), m.getFullName());
            assertEquals(false, m.isClientStreaming(), m.getFullName());
        }
    }

    private static FieldDescriptor assertField(Descriptor d, String name, int number, Type type, boolean repeated) {
        FieldDescriptor f = d.findFieldByName(name);
        assertNotNull(f, d.getFullName() + "." + name + " missing");
        assertEquals(number, f.getNumber(), d.getFullName() + "." + name + " number");
        assertEquals(type, f.getType(), d.getFullName() + "." + name + " type");
        assertEquals(repeated, f.isRepeated(), d.getFullName() + "." + name + " repeated");
        return f;
    }

    private static void assertMessageField(Descriptor d, String name, int number, String messageType) {
        FieldDescriptor f = assertField(d, name, number, Type.MESSAGE, false);
        assertEquals(messageType, f.getMessageType().getFullName(), d.getFullName() + "." + name + " message type");
    }

    private static void assertStringMap(Descriptor d, String name, int number) {
        FieldDescriptor f = assertField(d, name, number, Type.MESSAGE, true);
        assertTrue(f.isMapField(), d.getFullName() + "." + name + " is not a map");
        Descriptor entry = f.getMessageType();
        assertEquals(Type.STRING, entry.findFieldByNumber(1).getType(), name + " key type");
        assertEquals(Type.STRING, entry.findFieldByNumber(2).getType(), name + " value type");
    }

    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }
}
