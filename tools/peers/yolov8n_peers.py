# Copied from the project's shared peers (tools/peers/yolov8n_peers.py of ../shared); the only
# change is the y_dyn.onnx export below (marked `lookout:`). Run on the GPU machine by tools/gpu/run.sh.
import torch,torch.nn as nn,time,json,os,statistics as S
N=nn.Module
class Conv(N):
 def __init__(s,a,b,k=1,st=1):
  super().__init__();s.conv=nn.Conv2d(a,b,k,st,k//2,bias=False);s.bn=nn.BatchNorm2d(b);s.act=nn.SiLU()
 def forward(s,x):return s.act(s.bn(s.conv(x)))
class B(N):
 def __init__(s,c,sc):
  super().__init__();s.cv1=Conv(c,c,3);s.cv2=Conv(c,c,3);s.add=sc
 def forward(s,x):y=s.cv2(s.cv1(x));return x+y if s.add else y
class C2f(N):
 def __init__(s,a,b,n=1,sc=False):
  super().__init__();s.c=b//2;s.cv1=Conv(a,b,1);s.cv2=Conv((2+n)*s.c,b,1);s.m=nn.ModuleList(B(s.c,sc) for _ in range(n))
 def forward(s,x):
  y=list(s.cv1(x).chunk(2,1));y.extend(m(y[-1]) for m in s.m);return s.cv2(torch.cat(y,1))
class SPPF(N):
 def __init__(s,a,b):
  super().__init__();c=a//2;s.cv1=Conv(a,c);s.cv2=Conv(c*4,b);s.m=nn.MaxPool2d(5,1,2)
 def forward(s,x):
  y=[s.cv1(x)];y.extend(s.m(y[-1]) for _ in range(3));return s.cv2(torch.cat(y,1))
class Det(N):
 def __init__(s,ch,nc=80):
  super().__init__();s.nc=nc
  s.cv2=nn.ModuleList(nn.Sequential(Conv(x,64,3),Conv(64,64,3),nn.Conv2d(64,64,1)) for x in ch)
  s.cv3=nn.ModuleList(nn.Sequential(Conv(x,80,3),Conv(80,80,3),nn.Conv2d(80,nc,1)) for x in ch)
  s.dfl=nn.Conv2d(16,1,1,bias=False);s.dfl.weight.data[:]=torch.arange(16.).view(1,16,1,1)
 def forward(s,xs):
  x=[torch.cat((s.cv2[i](t),s.cv3[i](t)),1) for i,t in enumerate(xs)];A=[];T=[]
  for i,t in enumerate(x):
   h,w=t.shape[2:];yy,xx=torch.meshgrid(torch.arange(h,device=t.device)+.5,torch.arange(w,device=t.device)+.5,indexing='ij')
   A.append(torch.stack((xx,yy),-1).view(-1,2));T.append(torch.full((h*w,1),8.*2**i,device=t.device))
  a=torch.cat(A).T.unsqueeze(0).to(t.dtype);st=torch.cat(T).T.to(t.dtype)
  z=torch.cat([t.flatten(2) for t in x],2);box,cls=z.split((64,s.nc),1);n=box.shape[2]
  d=s.dfl(box.view(-1,4,16,n).transpose(2,1).softmax(1)).view(-1,4,n);lt,rb=d.chunk(2,1)
  p=a-lt;q=a+rb;return torch.cat((torch.cat(((p+q)/2,q-p),1)*st,cls.sigmoid()),1)
class Y(N):
 def __init__(s):
  super().__init__();s.b=nn.ModuleList([Conv(3,16,3,2),Conv(16,32,3,2),C2f(32,32,1,1),Conv(32,64,3,2),C2f(64,64,2,1),Conv(64,128,3,2),C2f(128,128,2,1),Conv(128,256,3,2),C2f(256,256,1,1),SPPF(256,256)])
  s.h12=C2f(384,128);s.h15=C2f(192,64);s.d16=Conv(64,64,3,2);s.h18=C2f(192,128);s.d19=Conv(128,128,3,2);s.h21=C2f(384,256);s.det=Det([64,128,256]);s.up=nn.Upsample(None,2,'nearest')
 def forward(s,x):
  o=[]
  for m in s.b:x=m(x);o.append(x)
  p4=s.h12(torch.cat((s.up(x),o[6]),1));p3=s.h15(torch.cat((s.up(p4),o[4]),1))
  p4=s.h18(torch.cat((s.d16(p3),p4),1));p5=s.h21(torch.cat((s.d19(p4),x),1));return s.det([p3,p4,p5])
R={};m=Y().eval();x=torch.rand(1,3,640,640);R['params']=sum(p.numel() for p in m.parameters())
L=[]
def hk(mod,i,o):L.append((mod.in_channels,mod.out_channels,mod.kernel_size[0],mod.stride[0],o.shape[2],o.shape[3],o.numel()*mod.in_channels*mod.kernel_size[0]**2//mod.groups,i[0].numel(),o.numel()))
hs=[c.register_forward_hook(hk) for c in m.modules() if isinstance(c,nn.Conv2d)]
with torch.no_grad():y=m(x)
for h in hs:h.remove()
R['out']=list(y.shape);R['nconv']=len(L);R['GMAC']=sum(l[6] for l in L)/1e9
for k in(1,3):R['GMAC_k%d'%k]=sum(l[6] for l in L if l[2]==k)/1e9;R['n_k%d'%k]=sum(1 for l in L if l[2]==k)
R['act_MB_f32_in+out']=sum(l[7]+l[8] for l in L)*4/1e6;R['top']=sorted(L,key=lambda l:-l[6])[:6]
import onnxruntime as ort
R['ort']=ort.__version__;R['prov']=ort.get_available_providers()
try:torch.onnx.export(m,x,'y.onnx',opset_version=17,dynamo=False)
except Exception as e:R['exp1']=str(e)[:200];torch.onnx.export(m,x,'y.onnx',opset_version=17)
# lookout: the same network with a dynamic batch dimension, for lookout's batched runs.
torch.onnx.export(m,x,'y_dyn.onnx',opset_version=17,dynamo=False,input_names=['x'],output_names=['y'],dynamic_axes={'x':{0:'n'},'y':{0:'n'}})
def tm(f,n):
 for _ in range(5):f()
 t=[]
 for _ in range(n):a=time.perf_counter();f();t.append(time.perf_counter()-a)
 return round(S.median(t)*1e3,3)
for th in(16,8,4,1):
 so=ort.SessionOptions();so.intra_op_num_threads=th;s=ort.InferenceSession('y.onnx',so,providers=['CPUExecutionProvider']);xi=x.numpy();nm=s.get_inputs()[0].name
 R['ort_cpu_ms_t%d'%th]=tm(lambda:s.run(None,{nm:xi}),20 if th>2 else 5)
torch.set_num_threads(16)
with torch.no_grad():R['torch_cpu_ms_t16']=tm(lambda:m(x),10)
if torch.cuda.is_available():
 R['gpu']=torch.cuda.get_device_name();torch.backends.cudnn.benchmark=True
 def g(mm,xx):
  def f():
   with torch.no_grad():mm(xx)
   torch.cuda.synchronize()
  return f
 mc=Y().eval().cuda();xc=x.cuda();R['cuda_fp32_ms']=tm(g(mc,xc),100)
 torch.backends.cuda.matmul.allow_tf32=True;torch.backends.cudnn.allow_tf32=True;R['cuda_tf32_ms']=tm(g(mc,xc),100)
 mh=mc.half().to(memory_format=torch.channels_last);xh=xc.half().to(memory_format=torch.channels_last);R['cuda_fp16_nhwc_ms']=tm(g(mh,xh),100)
 with torch.no_grad():
  for _ in range(3):mh(xh)
  torch.cuda.synchronize();G=torch.cuda.CUDAGraph()
  with torch.cuda.graph(G):mh(xh)
 def r():G.replay();torch.cuda.synchronize()
 R['cuda_fp16_nhwc_graph_ms']=tm(r,200)
 for bs in(8,32):
  xb=torch.rand(bs,3,640,640,device='cuda').half().to(memory_format=torch.channels_last);R['cuda_fp16_nhwc_bs%d_ms_per_img'%bs]=round(tm(g(mh,xb),30)/bs,3)
print(json.dumps(R))
