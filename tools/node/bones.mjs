// Loads a GLB with three.js's GLTFLoader and samples its first animation: the world position of every bone of the
// skinned mesh, and the skinned mesh's bounding box (its vertices moved by the bones), at given times.
// Runs in a browser page that maps "three" and "three/addons/" with an import map (see bones.html).
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";

export async function sampleGlb(url, times) {
  const gltf = await new GLTFLoader().loadAsync(url);
  const scene = gltf.scene;
  const meshes = [];
  scene.traverse((o) => { if (o.isSkinnedMesh) meshes.push(o); });
  if (meshes.length !== 1) throw new Error(`expected one skinned mesh, found ${meshes.length}`);
  const mesh = meshes[0];
  const bones = mesh.skeleton.bones;
  const clip = gltf.animations[0];
  const mixer = new THREE.AnimationMixer(scene);
  // played once and held at the end: a looping action wraps the last frame's time round to the first frame
  const action = mixer.clipAction(clip);
  action.setLoop(THREE.LoopOnce, 1);
  action.clampWhenFinished = true;
  action.play();
  const frames = [];
  const boxes = [];
  for (const t of times) {
    mixer.setTime(t);
    scene.updateMatrixWorld(true);
    frames.push(bones.map((b) => b.getWorldPosition(new THREE.Vector3()).toArray()));
    mesh.computeBoundingBox(); // for a SkinnedMesh, over the vertices as the bones place them now
    const box = mesh.boundingBox.clone().applyMatrix4(mesh.matrixWorld);
    boxes.push([box.min.toArray(), box.max.toArray()]);
  }
  return {
    revision: THREE.REVISION,
    names: bones.map((b) => b.name),
    frames,
    boxes,
    clip: { name: clip.name, duration: clip.duration, tracks: clip.tracks.map((k) => k.name) },
    vertices: mesh.geometry.getAttribute("position").count,
  };
}
