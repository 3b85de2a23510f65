package io.nemu.proto.containerd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import com.google.protobuf.Timestamp;
import io.grpc.MethodDescriptor.MethodType;
import io.nemu.proto.containerd.cgroups.v1.CgroupV1MetricsProto;
import io.nemu.proto.containerd.cgroups.v2.CgroupV2MetricsProto;
import io.nemu.proto.containerd.events.TaskCreate;
import io.nemu.proto.containerd.events.TaskDelete;
import io.nemu.proto.containerd.events.TaskExecStarted;
import io.nemu.proto.containerd.events.TaskExit;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import io.nemu.proto.containerd.services.events.v1.EventsServiceProto;
import io.nemu.proto.containerd.services.ttrpc.events.v1.ForwardRequest;
import io.nemu.proto.containerd.services.ttrpc.events.v1.TtrpcEventsProto;
import io.nemu.proto.containerd.task.v2.CreateTaskRequest;
import io.nemu.proto.containerd.task.v2.DeleteResponse;
import io.nemu.proto.containerd.task.v2.ExecProcessRequest;
import io.nemu.proto.containerd.task.v2.StateResponse;
import io.nemu.proto.containerd.types.Envelope;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.containerd.types.task.Status;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Checks the generated descriptors against the wire facts in protocols.md, so a typo in a .proto fails here. */
class ContainerdProtoTest {

    private static final List<String> TASK_METHODS = List.of(
            "State", "Create", "Start", "Delete", "Pids", "Pause", "Resume", "Checkpoint", "Kill", "Exec",
            "ResizePty", "CloseIO", "Update", "Wait", "Stats", "Connect", "Shutdown");

    @Test
    void taskServiceV2HasEveryMethodUnderItsWireName() {
        assertTaskService(io.nemu.proto.containerd.task.v2.ShimProto.getDescriptor().findServiceByName("Task"),
                "containerd.task.v2");
        assertEquals("containerd.task.v2.Task", io.nemu.proto.containerd.task.v2.TaskGrpc.SERVICE_NAME);
        assertEquals("containerd.task.v2.Task/Create",
                io.nemu.proto.containerd.task.v2.TaskGrpc.getCreateMethod().getFullMethodName());
        assertEquals("containerd.task.v2.Task/Shutdown",
                io.nemu.proto.containerd.task.v2.TaskGrpc.getShutdownMethod().getFullMethodName());
    }

    @Test
    void taskServiceV3MirrorsV2InItsOwnPackage() {
        ServiceDescriptor v3 = io.nemu.proto.containerd.task.v3.ShimProto.getDescriptor().findServiceByName("Task");
        assertTaskService(v3, "containerd.task.v3");
        assertEquals("containerd.task.v3.Task/Wait",
                io.nemu.proto.containerd.task.v3.TaskGrpc.getWaitMethod().getFullMethodName());
        // Same fields, so the bytes are interchangeable between the two versions.
        for (Descriptor v2Message : io.nemu.proto.containerd.task.v2.ShimProto.getDescriptor().getMessageTypes()) {
            Descriptor v3Message = io.nemu.proto.containerd.task.v3.ShimProto.getDescriptor()
                    .findMessageTypeByName(v2Message.getName());
            assertNotNull(v3Message, "v3 lacks " + v2Message.getName());
            assertEquals(fieldSignature(v2Message), fieldSignature(v3Message), v2Message.getName());
        }
    }

    private static void assertTaskService(ServiceDescriptor service, String pkg) {
        assertEquals(pkg + ".Task", service.getFullName());
        assertEquals(TASK_METHODS, service.getMethods().stream().map(MethodDescriptor::getName).toList());
        Map<String, String> io = service.getMethods().stream().collect(Collectors.toMap(MethodDescriptor::getName,
                m -> m.getInputType().getFullName() + "->" + m.getOutputType().getFullName()));
        assertEquals(pkg + ".CreateTaskRequest->" + pkg + ".CreateTaskResponse", io.get("Create"));
        assertEquals(pkg + ".ExecProcessRequest->google.protobuf.Empty", io.get("Exec"));
        assertEquals(pkg + ".CheckpointTaskRequest->google.protobuf.Empty", io.get("Checkpoint"));
        assertEquals(pkg + ".UpdateTaskRequest->google.protobuf.Empty", io.get("Update"));
        assertEquals(pkg + ".StateRequest->" + pkg + ".StateResponse", io.get("State"));
        for (MethodDescriptor m : service.getMethods()) {
            assertFalse(m.isClientStreaming() || m.isServerStreaming(), m.getName() + " must be unary");
        }
    }

    @Test
    void eventServicesHaveTheirWireNames() {
        ServiceDescriptor ttrpc = TtrpcEventsProto.getDescriptor().findServiceByName("Events");
        assertEquals("containerd.services.events.ttrpc.v1.Events", ttrpc.getFullName());
        assertEquals(List.of("Forward"), ttrpc.getMethods().stream().map(MethodDescriptor::getName).toList());
        assertEquals("containerd.services.events.ttrpc.v1.Events/Forward",
                io.nemu.proto.containerd.services.ttrpc.events.v1.EventsGrpc.getForwardMethod().getFullMethodName());

        ServiceDescriptor grpc = EventsServiceProto.getDescriptor().findServiceByName("Events");
        assertEquals("containerd.services.events.v1.Events", grpc.getFullName());
        assertEquals(List.of("Publish", "Forward", "Subscribe"),
                grpc.getMethods().stream().map(MethodDescriptor::getName).toList());
        var subscribe = io.nemu.proto.containerd.services.events.v1.EventsGrpc.getSubscribeMethod();
        assertEquals("containerd.services.events.v1.Events/Subscribe", subscribe.getFullMethodName());
        assertEquals(MethodType.SERVER_STREAMING, subscribe.getType());
        assertEquals("containerd.types.Envelope",
                grpc.findMethodByName("Subscribe").getOutputType().getFullName());
    }

    @Test
    void fieldNumbersAndTypesMatchProtocolsMd() {
        assertEquals("id=1:STRING bundle=2:STRING rootfs=3:*MESSAGE terminal=4:BOOL stdin=5:STRING stdout=6:STRING"
                        + " stderr=7:STRING checkpoint=8:STRING parent_checkpoint=9:STRING options=10:MESSAGE",
                fieldSignature(CreateTaskRequest.getDescriptor()));
        assertEquals("id=1:STRING bundle=2:STRING pid=3:UINT32 status=4:ENUM stdin=5:STRING stdout=6:STRING"
                        + " stderr=7:STRING terminal=8:BOOL exit_status=9:UINT32 exited_at=10:MESSAGE exec_id=11:STRING",
                fieldSignature(StateResponse.getDescriptor()));
        assertEquals("pid=1:UINT32 exit_status=2:UINT32 exited_at=3:MESSAGE",
                fieldSignature(DeleteResponse.getDescriptor()));
        assertEquals("id=1:STRING exec_id=2:STRING terminal=3:BOOL stdin=4:STRING stdout=5:STRING stderr=6:STRING"
                + " spec=7:MESSAGE", fieldSignature(ExecProcessRequest.getDescriptor()));
        assertEquals("type=1:STRING source=2:STRING target=3:STRING options=4:*STRING",
                fieldSignature(Mount.getDescriptor()));
        assertEquals("container_id=1:STRING id=2:STRING pid=3:UINT32 exit_status=4:UINT32 exited_at=5:MESSAGE",
                fieldSignature(TaskExit.getDescriptor()));
        assertEquals("container_id=1:STRING pid=2:UINT32 exit_status=3:UINT32 exited_at=4:MESSAGE id=5:STRING",
                fieldSignature(TaskDelete.getDescriptor()));
        assertEquals("container_id=1:STRING bundle=2:STRING rootfs=3:*MESSAGE io=4:MESSAGE checkpoint=5:STRING"
                + " pid=6:UINT32", fieldSignature(TaskCreate.getDescriptor()));
        assertEquals("container_id=1:STRING exec_id=2:STRING pid=3:UINT32",
                fieldSignature(TaskExecStarted.getDescriptor()));
        assertEquals("timestamp=1:MESSAGE namespace=2:STRING topic=3:STRING event=4:MESSAGE",
                fieldSignature(Envelope.getDescriptor()));
        assertEquals("type_url=1:STRING config_path=2:STRING config_body=3:BYTES",
                fieldSignature(Options.getDescriptor()));

        EnumDescriptor status = Status.getDescriptor();
        assertEquals("containerd.v1.types.Status", status.getFullName());
        assertEquals("UNKNOWN=0 CREATED=1 RUNNING=2 STOPPED=3 PAUSED=4 PAUSING=5", status.getValues().stream()
                .map(v -> v.getName() + "=" + v.getNumber()).collect(Collectors.joining(" ")));
    }

    @Test
    void anyTypeNamesAreTheOnesContainerdLooksUp() {
        assertEquals("containerd.events.TaskExit", TaskExit.getDescriptor().getFullName());
        assertEquals("runtimeoptions.v1.Options", Options.getDescriptor().getFullName());
        assertEquals("io.containerd.cgroups.v1.Metrics",
                CgroupV1MetricsProto.getDescriptor().findMessageTypeByName("Metrics").getFullName());
        assertEquals("io.containerd.cgroups.v2.Metrics",
                CgroupV2MetricsProto.getDescriptor().findMessageTypeByName("Metrics").getFullName());
        assertEquals("containerd.types.Mount", Mount.getDescriptor().getFullName());
    }

    @Test
    void taskExitEncodesToKnownBytes() {
        // container_id "c" (tag 0x0a), pid 7 (0x18), exit_status 3 (0x20): hand-encoded from the field numbers.
        TaskExit exit = TaskExit.newBuilder().setContainerId("c").setPid(7).setExitStatus(3).build();
        assertArrayEquals(HexFormat.of().parseHex("0a0163" + "1807" + "2003"), exit.toByteArray());
    }

    @Test
    void taskExitRoundTripsThroughAForwardedEnvelope() throws Exception {
        TaskExit exit = TaskExit.newBuilder()
                .setContainerId("pod-1").setId("pod-1").setPid(4242).setExitStatus(137)
                .setExitedAt(Timestamp.newBuilder().setSeconds(1_764_000_000L).setNanos(5))
                .build();
        // containerd's typeurl resolves the bare full name; Any.pack would prepend type.googleapis.com/.
        Any event = Any.newBuilder().setTypeUrl(exit.getDescriptorForType().getFullName())
                .setValue(exit.toByteString()).build();
        ForwardRequest forward = ForwardRequest.newBuilder().setEnvelope(Envelope.newBuilder()
                .setTimestamp(Timestamp.newBuilder().setSeconds(1_764_000_001L))
                .setNamespace("default").setTopic("/tasks/exit").setEvent(event)).build();
        byte[] wire = forward.toByteArray();

        // The gRPC service's ForwardRequest must read the very same bytes.
        var viaGrpc = io.nemu.proto.containerd.services.events.v1.ForwardRequest.parseFrom(wire);
        assertEquals(forward.getEnvelope(), viaGrpc.getEnvelope());

        Envelope back = ForwardRequest.parseFrom(wire).getEnvelope();
        assertEquals("default", back.getNamespace());
        assertEquals("/tasks/exit", back.getTopic());
        assertEquals(1_764_000_001L, back.getTimestamp().getSeconds());
        assertEquals("containerd.events.TaskExit", back.getEvent().getTypeUrl());
        TaskExit decoded = TaskExit.parseFrom(back.getEvent().getValue());
        assertEquals(exit, decoded);
        assertEquals(137, decoded.getExitStatus());
        assertTrue(decoded.hasExitedAt());
    }

    /** "name=number:TYPE" for each field in declaration order; '*' marks repeated. */
    private static String fieldSignature(Descriptor message) {
        return message.getFields().stream()
                .map(f -> f.getName() + "=" + f.getNumber() + ":" + (f.isRepeated() && !f.isMapField() ? "*" : "")
                        + (f.isMapField() ? "MAP" : f.getType().name()))
                .collect(Collectors.joining(" "));
    }
}
